# view_sample.praat — part of ganphon's Praat plugin (Praat > ganphon > View sample...)
#
# Opens one sample of a folder exported by ganphon in two editors that scroll
# and zoom together (Praat groups editors of the same time domain; the Group
# box at the bottom right of each window is ticked):
#
#   1. the output: Sound ID (ID_output.wav) with its TextGrid ID, in a
#      TextGrid editor whose spectrogram, pitch, intensity, formants and Play
#      are those of the output alone;
#   2. the layers: one Sound per layer, named after the layer (dense, conv1 …,
#      from ID_<layer>.wav), and their channels combined into Sound
#      ID_layers, shown with a copy of the TextGrid.  Channel k is the k-th
#      layer: the tier "channels" on top says which ("1: dense | 2: conv1 …"),
#      as does the Info window (Praat 6.3 labels channels only by number); the analyses of this editor are switched off, because Praat
#      analyses the mix of all channels, which means nothing.
#
# Fields:
#   Folder        the exported folder (Choose... picks it)
#   Sample id     the sample, e.g. s000003 or b000_v004 (files ID_output.wav …)
#   Layers        layers to show, separated by spaces; layers without a WAV are
#                 skipped
#   Scale layers  scale each layer to a peak of 0.99 in the combined Sound so
#                 that all are visible (the layer Sounds named conv1 … keep the
#                 file's values; the files are not changed)
#   Open editors  open the two editors (switch off to only build the objects,
#                 e.g. when run from the command line)
#
# Objects made: Sound ID, TextGrid ID, Sound <layer> for each layer, Sound
# ID_layers, TextGrid ID_layers.  Without a TextGrid, an empty one with a tier
# "auto" is made.  Praat 6.3 or later (the folder field).

form View sample (ganphon)
	folder Folder /path/to/folder
	word Sample_id s000000
	sentence Layers dense conv1 conv2 conv3 conv4
	boolean Scale_layers 1
	boolean Open_editors 1
endform

include ganphon_view.praat

@ganphonFolder: folder$
folder$ = ganphonFolder.folder$
output$ = folder$ + "/" + sample_id$ + "_output.wav"
if not fileReadable(output$)
	exitScript: "No sample ", sample_id$, " in ", folder$, ": there is no ", sample_id$, "_output.wav (is it a folder exported by ganphon?)"
endif
writeInfoLine: "ganphon: sample ", sample_id$, " of ", folder$

# 1. the output and its TextGrid
output = Read from file: output$
Rename: sample_id$
textgrid$ = folder$ + "/" + sample_id$ + ".TextGrid"
if fileReadable(textgrid$)
	textgrid = Read from file: textgrid$
	Rename: sample_id$
else
	selectObject: output
	textgrid = To TextGrid: "auto", ""
	appendInfoLine: "(no ", sample_id$, ".TextGrid: made an empty one with tier auto)"
endif
appendInfoLine: "editor 1: Sound ", sample_id$, " (the output) with TextGrid ", sample_id$

# 2. the layers
@ganphonWords: layers$
nLayers = 0
for i to ganphonWords.n
	layer$ = ganphonWords.word$[i]
	selectObject: output
	rate = Get sampling frequency
	@ganphonReadLayer: folder$ + "/" + sample_id$ + "_" + layer$, rate
	if ganphonReadLayer.sound
		nLayers += 1
		layerSound[nLayers] = ganphonReadLayer.sound
		Rename: layer$
		layerName$[nLayers] = layer$
	else
		appendInfoLine: "(no ", sample_id$, "_", layer$, ".wav or .Sound: layer ", layer$, " skipped)"
	endif
endfor
if nLayers > 0
	@ganphonCombine: nLayers, scale_layers, sample_id$ + "_layers"
	layers = ganphonCombine.combined
	selectObject: textgrid
	layersGrid = Copy: sample_id$ + "_layers"
	Insert interval tier: 1, "channels"
	appendInfoLine: "editor 2: Sound ", sample_id$, "_layers with TextGrid ", sample_id$, "_layers; channels:"
	channels$ = ""
	for i to nLayers
		appendInfoLine: "  channel ", i, ": ", layerName$[i], if scale_layers then " (scaled to peak 0.99)" else "" fi
		channels$ = channels$ + (if i > 1 then " | " else "" fi) + string$(i) + ": " + layerName$[i]
	endfor
	Set interval text: 1, 1, channels$
endif

if open_editors
	selectObject: output, textgrid
	View & Edit
	if nLayers > 0
		selectObject: layers, layersGrid
		View & Edit
		editor: layersGrid
			@ganphonNoAnalyses
		endeditor
	endif
endif
selectObject: output, textgrid
