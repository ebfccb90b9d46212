# view_sweep.praat — part of ganphon's Praat plugin (Praat > ganphon > View sweep...)
#
# Opens one row of a sweep exported by ganphon sweep (one base latent, every
# value): for each layer asked for, one editor whose channels are the values
# in order (Sound b000_<layer>; channel k = value k, named with its condition
# in the tier "channels" of the editor's TextGrid and in the Info window).
# All editors share the time domain, so Praat groups them: they scroll and
# zoom together.  The analyses of these editors are off (Praat would analyse
# the mix of the channels); every value's output is also read as Sound
# b000_v00k with its TextGrid: select one and View & Edit for its own
# spectrogram, pitch and formants (it joins the group).
#
# Fields:
#   Folder        the sweep's folder (Choose... picks it)
#   Base          the base latent (0 for b000_…)
#   Layers        layers to show, separated by spaces (output for the waveform)
#   Scale layers  scale each channel to a peak of 0.99 (files unchanged)
#   Open editors  open the editors (switch off to only build the objects)

form View sweep (ganphon)
	folder Folder /path/to/folder
	integer Base 0
	sentence Layers output conv1 conv2 conv3 conv4
	boolean Scale_layers 1
	boolean Open_editors 1
endform

include ganphon_view.praat

@ganphonFolder: folder$
folder$ = ganphonFolder.folder$
row$ = "b" + right$("00" + string$(base), 3)
files = Create Strings as file list: "ganphon_row", folder$ + "/" + row$ + "_v*_output.wav"
Sort
nValues = Get number of strings
if nValues = 0
	removeObject: files
	exitScript: "No sweep row ", row$, " in ", folder$, " (no ", row$, "_v*_output.wav; is it a folder written by ganphon sweep?)"
endif
writeInfoLine: "ganphon: sweep row ", row$, " of ", folder$, ", ", nValues, " values"
channels$ = ""
for k to nValues
	selectObject: files
	file$ = Get string: k
	id$[k] = left$(file$, length(file$) - length("_output.wav"))
	output[k] = Read from file: folder$ + "/" + file$
	Rename: id$[k]
	condition$ = id$[k]
	if fileReadable(folder$ + "/" + id$[k] + ".TextGrid")
		grid[k] = Read from file: folder$ + "/" + id$[k] + ".TextGrid"
		Rename: id$[k]
		tiers = Get number of tiers
		for t to tiers
			name$ = Get tier name: t
			if name$ = "condition"
				condition$ = Get label of interval: t, 1
			endif
		endfor
	endif
	appendInfoLine: "  channel ", k, ": ", id$[k], "  ", condition$
	channels$ = channels$ + (if k > 1 then " | " else "" fi) + string$(k) + ": " + condition$
endfor
removeObject: files

@ganphonWords: layers$
nEditors = 0
for i to ganphonWords.n
	layer$ = ganphonWords.word$[i]
	nLayers = 0
	for k to nValues
		if layer$ = "output"
			selectObject: output[k]
			nLayers += 1
			layerSound[nLayers] = Copy: "ganphon_value"
		else
			selectObject: output[k]
			rate = Get sampling frequency
			@ganphonReadLayer: folder$ + "/" + id$[k] + "_" + layer$, rate
			if ganphonReadLayer.sound
				nLayers += 1
				layerSound[nLayers] = ganphonReadLayer.sound
			endif
		endif
	endfor
	if nLayers = nValues
		@ganphonCombine: nLayers, scale_layers, row$ + "_" + layer$
		nEditors += 1
		sound[nEditors] = ganphonCombine.combined
		tg[nEditors] = To TextGrid: "channels", ""
		Set interval text: 1, 1, channels$
		Rename: row$ + "_" + layer$
		appendInfoLine: "editor ", nEditors, ": Sound ", row$, "_", layer$, " (channel k = value k)"
	else
		appendInfoLine: "(layer ", layer$, " skipped: ", nLayers, " of ", nValues, " WAVs)"
	endif
	for k to nLayers
		removeObject: layerSound[k]
	endfor
endfor
if open_editors
	for ed to nEditors
		selectObject: sound[ed], tg[ed]
		View & Edit
		editor: tg[ed]
			@ganphonNoAnalyses
		endeditor
	endfor
endif
