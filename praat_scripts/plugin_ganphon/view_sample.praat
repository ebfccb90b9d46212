# view_sample.praat — part of ganphon's Praat plugin (Praat > ganphon > View sample...)
#
# Opens one sample of a folder exported by ganphon: its output waveform and
# its layer series (the 16 kHz WAVs ID_<layer>.wav) as the channels of one
# Sound, together with the sample's TextGrid, in one TextGrid editor, so the
# layers can be read against the waveform and the annotation.
#
# Fields:
#   Folder        the exported folder (full path)
#   Sample id     the sample, e.g. s000003 (files s000003_output.wav, …)
#   Layers        layers to show below the output, separated by spaces;
#                 layers without a WAV are skipped
#   Scale layers  scale each layer to a peak of 0.99 so that it is visible next
#                 to the waveform (the files themselves are not changed; the
#                 paper scaled layers the same way for its figures)
#   Open editor   open the editor (switch off to only build the objects, e.g.
#                 when run from the command line)
#
# Channel 1 is the output, then the layers in the order given; the Info
# window lists them.  Without a TextGrid, an empty one with a tier "auto" is
# made.  Works with Praat 6.1 or later.

form View sample (ganphon)
	sentence Folder /path/to/folder
	word Sample_id s000000
	sentence Layers dense conv1 conv2 conv3 conv4
	boolean Scale_layers 1
	boolean Open_editor 1
endform

folder$ = folder$
while length(folder$) > 1 and (right$(folder$, 1) = "/" or right$(folder$, 1) = "\")
	folder$ = left$(folder$, length(folder$) - 1)
endwhile
output$ = folder$ + "/" + sample_id$ + "_output.wav"
if not fileReadable(output$)
	exitScript: "No file ", output$, " (is ", folder$, " a folder exported by ganphon?)"
endif
writeInfoLine: "ganphon sample ", sample_id$, " from ", folder$
nChannels = 1
channel[1] = Read from file: output$
Rename: sample_id$ + "_output"
appendInfoLine: "channel 1: output"

# the layer names, separated by spaces
rest$ = replace_regex$(layers$, "^\s+|\s+$", "", 0) + " "
while length(rest$) > 1
	space = index(rest$, " ")
	layer$ = left$(rest$, space - 1)
	rest$ = replace_regex$(right$(rest$, length(rest$) - space), "^\s+", "", 0)
	if layer$ <> ""
		path$ = folder$ + "/" + sample_id$ + "_" + layer$ + ".wav"
		if fileReadable(path$)
			nChannels += 1
			channel[nChannels] = Read from file: path$
			Rename: sample_id$ + "_" + layer$
			if scale_layers
				peak = Get absolute extremum: 0, 0, "None"
				if peak > 0
					Scale peak: 0.99
				endif
			endif
			appendInfoLine: "channel ", nChannels, ": ", layer$
		else
			appendInfoLine: "(no ", path$, ")"
		endif
	endif
endwhile

selectObject: channel[1]
for i from 2 to nChannels
	plusObject: channel[i]
endfor
if nChannels > 1
	combined = Combine to stereo
	Rename: sample_id$ + "_output_and_layers"
else
	combined = Copy: sample_id$ + "_output_and_layers"
endif
n = Get number of channels
appendInfoLine: "combined sound: ", n, " channels"

textgrid$ = folder$ + "/" + sample_id$ + ".TextGrid"
if fileReadable(textgrid$)
	textgrid = Read from file: textgrid$
else
	selectObject: combined
	textgrid = To TextGrid: "auto", ""
	appendInfoLine: "(no ", textgrid$, "; made an empty one)"
endif
if open_editor
	selectObject: combined, textgrid
	View & Edit
endif
