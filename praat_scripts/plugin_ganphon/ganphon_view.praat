# ganphon_view.praat — procedures shared by the scripts of ganphon's Praat plugin
# (View sample, View sweep, Measure folder).  Keep it in the same folder.

# The folder without trailing slashes; stops with "no such folder" when it does not exist.
procedure ganphonFolder: .folder$
	.folder$ = replace_regex$(.folder$, "^\s+|\s+$", "", 0)
	while length(.folder$) > 1 and (right$(.folder$, 1) = "/" or right$(.folder$, 1) = "\")
		.folder$ = left$(.folder$, length(.folder$) - 1)
	endwhile
	if .folder$ = "" or .folder$ = "/path/to/folder"
		exitScript: "Choose a folder (the Folder field is empty)."
	endif
	.list = 0
	.list = nocheck Create Strings as file list: "ganphon_files", .folder$ + "/*"
	if .list = undefined or .list = 0
		exitScript: "No such folder: ", .folder$
	endif
	removeObject: .list
endproc

# The words of a space-separated list: .n and .word$[1 .. .n].
procedure ganphonWords: .text$
	.n = 0
	.rest$ = replace_regex$(.text$, "^\s+|\s+$", "", 0) + " "
	while length(.rest$) > 1
		.space = index(.rest$, " ")
		.w$ = left$(.rest$, .space - 1)
		.rest$ = replace_regex$(right$(.rest$, length(.rest$) - .space), "^\s+", "", 0)
		if .w$ <> ""
			.n += 1
			.word$[.n] = .w$
		endif
	endwhile
endproc

# Combine the Sounds layerSound[1 .. .n] (same duration) into one multichannel Sound
# named .name$, each channel scaled to a peak of 0.99 when .scale; the inputs stay as they are.
procedure ganphonCombine: .n, .scale, .name$
	for .i to .n
		selectObject: layerSound[.i]
		.copy[.i] = Copy: "ganphon_channel"
		if .scale
			.peak = Get absolute extremum: 0, 0, "None"
			if .peak > 0
				Scale peak: 0.99
			endif
		endif
	endfor
	selectObject: .copy[1]
	for .i from 2 to .n
		plusObject: .copy[.i]
	endfor
	if .n > 1
		.combined = Combine to stereo
	else
		.combined = Copy: .name$
	endif
	Rename: .name$
	for .i to .n
		removeObject: .copy[.i]
	endfor
endproc

# In the current editor: no spectrogram, pitch, intensity, formants or pulses
# (Praat would analyse the mix of all channels).
procedure ganphonNoAnalyses
	Show analyses: "no", "no", "no", "no", "no", 10
endproc

# The default values of the form fields of .script$ that come after its Output
# table field, as runScript arguments (.rest$; empty when there are none).
procedure ganphonFormDefaults: .script$
	.text$ = readFile$(.script$)
	.rest$ = ""
	.after = 0
	.inForm = 0
	.pending = 0
	while length(.text$) > 0
		.nl = index(.text$, newline$)
		if .nl = 0
			.line$ = .text$
			.text$ = ""
		else
			.line$ = left$(.text$, .nl - 1)
			.text$ = mid$(.text$, .nl + 1, length(.text$))
		endif
		.line$ = replace_regex$(.line$, "^\s+|\s+$", "", 0)
		if startsWith(.line$, "form ")
			.inForm = 1
		elsif .line$ = "endform"
			.text$ = ""
		elsif .inForm and .line$ <> "" and not startsWith(.line$, "comment") and not startsWith(.line$, "#")
			if startsWith(.line$, "option ")
				.pending -= 1
				if .pending = 0
					@ganphonAppendArg: """" + mid$(.line$, 8, length(.line$)) + """"
				endif
			else
				.type$ = extractWord$(.line$, "")
				.label$ = extractWord$(.line$, " ")
				.value$ = replace_regex$(.line$, "^\S+\s+\S+\s*", "", 0)
				if .after
					if .type$ = "optionmenu" or .type$ = "choice"
						.pending = number(.value$)
					elsif .type$ = "boolean"
						@ganphonAppendArg: .value$
					elsif .type$ = "word" or .type$ = "sentence" or .type$ = "text"
						@ganphonAppendArg: """" + .value$ + """"
					else
						@ganphonAppendArg: .value$
					endif
				endif
				if startsWith(.label$, "Output_table")
					.after = 1
				endif
			endif
		endif
	endwhile
endproc

procedure ganphonAppendArg: .arg$
	if ganphonFormDefaults.rest$ = ""
		ganphonFormDefaults.rest$ = .arg$
	else
		ganphonFormDefaults.rest$ = ganphonFormDefaults.rest$ + ", " + .arg$
	endif
endproc

# Read a layer at the output rate .rate as the selected new Sound (.sound; 0 when there is none):
# .base$.wav, or, for a layer stored once as its native-rate Sound, .base$.Sound upsampled as ganphon
# does (linear interpolation between sample centres, the first and last values held at the edges).
# A run exported with --clip shows here the layer's true values (its WAVs would be clipped).
procedure ganphonReadLayer: .base$, .rate
	.sound = 0
	if fileReadable(.base$ + ".wav")
		.sound = Read from file: .base$ + ".wav"
	elsif fileReadable(.base$ + ".Sound")
		.native = Read from file: .base$ + ".Sound"
		.n = Get number of samples
		.first = Get value at sample number: 1, 1
		.last = Get value at sample number: 1, .n
		.x1 = Get time from sample number: 1
		.xn = Get time from sample number: .n
		.sound = Resample: .rate, 1
		Formula: "if x < .x1 then .first else if x > .xn then .last else self fi fi"
		removeObject: .native
		selectObject: .sound
	endif
endproc
