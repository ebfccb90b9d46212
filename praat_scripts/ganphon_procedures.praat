# ganphon_procedures.praat
#
# Procedures shared by ganphon's measure_*.praat scripts, which "include" this
# file; it does nothing when run by itself.  Keep it in the same folder as the
# measure scripts.
#
# The analysis commands and arguments below are the ones ganphon's Python
# measures (ganphon/acoustics.py) use through parselmouth, and the checks of
# what a sound can carry are the same (ganphon/praat.py, measure_guard), so a
# folder measured here and in Python gives the same numbers and the same rows.
#
# The procedures read the form fields of the including script as global
# variables: folder$, extension$, name_pattern$, tier$, number_of_points,
# output_table$, native_rate$, and the analysis settings (pitch_floor,
# pitch_ceiling, …).
#
# The band rule (ganphon/measures.py): what a sound can carry is decided by
# the native rate of the series it holds — a layer WAV upsampled to 16 kHz
# carries no more than its native-rate series (Conv2: 250 Hz, Nyquist
# 125 Hz).  Native rate: "manifest" takes each file's rate_native_hz from the
# folder's manifest.csv (a file not listed there: its own rate); "file" (or
# empty) the file's own rate; a number, that rate for every file.
#
# Table: one row per measurement, tab-separated, with the header
#   file  tier  label  start  end  point  time  measure  value  note
# Point measures (f0, intensity, f1, f2, f3) have point = 1…N at the
# normalised times (i - 0.5) / N of the interval; per-interval measures leave
# point and time empty.  Undefined values are written as empty cells.
# A file that cannot be measured as asked never stops the folder: a sound
# Praat cannot read, a TextGrid it cannot read, without the tier, with
# overlapping intervals on it or none labelled, intervals running past the
# sound — its rows say why in the note column (the notes ganphon's Python
# measures write for the same files).

procedure ganphon_measureFolder: .script$, .doPitch, .doIntensity, .doFormants, .doSpectrum, .doDuration
	.folder$ = folder$
	while length(.folder$) > 1 and (right$(.folder$, 1) = "/" or right$(.folder$, 1) = "\")
		.folder$ = left$(.folder$, length(.folder$) - 1)
	endwhile
	.extension$ = extension$
	if left$(.extension$, 1) = "."
		.extension$ = right$(.extension$, length(.extension$) - 1)
	endif
	.pattern$ = name_pattern$
	if .pattern$ = ""
		.pattern$ = "*"
	endif
	.out$ = output_table$
	if .out$ = ""
		.out$ = .folder$ + "/" + .script$ + ".tsv"
	endif
	writeFileLine: .out$, "file", tab$, "tier", tab$, "label", tab$, "start", tab$, "end", tab$,
	... "point", tab$, "time", tab$, "measure", tab$, "value", tab$, "note"
	# the native rates: one number, or the manifest's rate_native_hz per file
	.rateMode$ = replace_regex$(native_rate$, "^\s+|\s+$", "", 0)
	.rate = 0
	.manifest = 0
	.soundColumn = 0
	if .rateMode$ = "manifest"
		if fileReadable(.folder$ + "/manifest.csv")
			.manifest = nocheck Read Table from comma-separated file: .folder$ + "/manifest.csv"
			if .manifest = undefined
				.manifest = 0
			else
				.rateColumn = Get column index: "rate_native_hz"
				.fileColumn = Get column index: "file"
				.soundColumn = Get column index: "sound_file"
				if .rateColumn = 0 or .fileColumn = 0
					removeObject: .manifest
					.manifest = 0
				endif
			endif
		endif
	elsif .rateMode$ <> "" and .rateMode$ <> "file"
		.rate = number(.rateMode$)
		if .rate = undefined
			exitScript: "Native rate must be manifest, file or a number (Hz), not """, native_rate$, """"
		endif
	endif
	# a pattern without a wildcard names one file; Praat lists a folder for a
	# path without one, so list "name*" and keep the exact name only
	.exact$ = ""
	if index(.pattern$, "*") = 0
		.exact$ = .pattern$ + "." + .extension$
		.pattern$ = .pattern$ + "*"
	endif
	.list = Create Strings as file list: "ganphon_files", .folder$ + "/" + .pattern$ + "." + .extension$
	Sort
	.nFiles = Get number of strings
	for .iFile to .nFiles
		selectObject: .list
		.name$ = Get string: .iFile
		# skip hidden files (half-written files start with a dot)
		if left$(.name$, 1) <> "." and (.exact$ = "" or .name$ = .exact$)
			.native = .rate
			if .manifest
				selectObject: .manifest
				.row = Search column: "file", .name$
				if .row = 0 and .soundColumn > 0
					.row = Search column: "sound_file", .name$
				endif
				if .row > 0
					.native = Get value: .row, "rate_native_hz"
					if .native = undefined
						.native = 0
					endif
				endif
			endif
			@ganphon_measureFile: .folder$, .name$, .extension$, .out$, .native,
			... .doPitch, .doIntensity, .doFormants, .doSpectrum, .doDuration
		endif
	endfor
	removeObject: .list
	if .manifest
		removeObject: .manifest
	endif
endproc

procedure ganphon_measureFile: .folder$, .name$, .extension$, .out$, .native, .doPitch, .doIntensity, .doFormants, .doSpectrum, .doDuration
	.base$ = .name$ - ("." + .extension$)
	# A file that cannot be read (or is no sound) is not measured, but it has
	# its rows, flagged in the note column, and the folder goes on.
	.fileNote$ = ""
	.soundOk = 0
	.silent = 1
	.zero = 0
	.fs = 0
	.xmin = 0
	.xmax = undefined
	.dx = 0
	.duration = 0
	.sound = nocheck Read from file: .folder$ + "/" + .name$
	if .sound = undefined
		.fileNote$ = "cannot read " + .name$
	elsif numberOfSelected () <> 1 or numberOfSelected ("Sound") <> 1
		.fileNote$ = "cannot read " + .name$ + ": Praat reads it as something other than a sound"
		Remove
	else
		.soundOk = 1
		.fs = Get sampling frequency
		.dx = Get sampling period
		.xmin = Get start time
		.xmax = Get end time
		.duration = .xmax - .xmin
		.peak = Get absolute extremum: 0, 0, "None"
		.silent = 0
		if .peak = undefined
			.silent = 1
		elsif .peak = 0
			.silent = 1
			.zero = 1
		endif
	endif
	# the band the sound carries: its layer's native rate, or its own rate
	.rate = .fs
	if .native > 0 and .native < .fs * (1 - 1e-9)
		.rate = .native
	endif
	.us = rindex(.base$, "_")
	# the name in notes: the layer a ganphon file name ends with, else the file name
	.who$ = .name$
	if .us > 0
		.suffix$ = right$(.base$, length(.base$) - .us)
		if index_regex(.suffix$, "^(dense|conv[0-9]+|output)$")
			.who$ = .suffix$
		endif
	endif

	# The TextGrid: name.TextGrid, else the name without its last _suffix
	# (ganphon's ID_conv3.wav belongs to ID.TextGrid).  The checks and notes
	# are those of ganphon's read_intervals (ganphon/acoustics.py).
	.tg$ = .folder$ + "/" + .base$ + ".TextGrid"
	if not fileReadable(.tg$) and .us > 1
		.tg$ = .folder$ + "/" + left$(.base$, .us - 1) + ".TextGrid"
	endif
	.tgName$ = replace_regex$(.tg$, "^.*/", "", 1)
	.n = 0
	.tierNote$ = ""
	if tier$ <> "" and not fileReadable(.tg$)
		.tierNote$ = "no TextGrid"
	elsif tier$ <> ""
		.textgrid = nocheck Read from file: .tg$
		if .textgrid = undefined
			.tierNote$ = "cannot read " + .tgName$
		elsif numberOfSelected () <> 1 or numberOfSelected ("TextGrid") <> 1
			.tierNote$ = "cannot read " + .tgName$
			Remove
		else
			.tgXmin = Get start time
			.tgXmax = Get end time
			.tierNumber = 0
			.found = 0
			.named = 0
			.nTiers = Get number of tiers
			for .i to .nTiers
				.tierName$ = Get tier name: .i
				.isInterval = Is interval tier: .i
				if .tierName$ = tier$
					.found = 1
					if .isInterval
						.named += 1
						if .tierNumber = 0
							.tierNumber = .i
						endif
					endif
				endif
			endfor
			if .named > 1
				# which of them was meant cannot be told: none is measured
				.tierNote$ = "tier '" + tier$ + "' is " + string$ (.named) + " interval tiers in " + .tgName$ + "; rename all but one"
			elsif .tierNumber = 0 and .found
				.tierNote$ = "tier '" + tier$ + "' is not an interval tier in " + .tgName$
			elsif .tierNumber = 0
				.tierNote$ = "tier '" + tier$ + "' not found in " + .tgName$
			else
				.nIntervals = Get number of intervals: .tierNumber
				.previousEnd = -1e308
				for .i to .nIntervals
					if .tierNote$ = ""
						.a = Get start time of interval: .tierNumber, .i
						.b = Get end time of interval: .tierNumber, .i
						if .a < .previousEnd
							# Praat reads these; no interval can be trusted then
							.tierNote$ = "tier '" + tier$ + "' in " + .tgName$ + " has overlapping intervals"
							.n = 0
						else
							.previousEnd = .b
							.text$ = Get label of interval: .tierNumber, .i
							if .text$ <> ""
								.n += 1
								.label$[.n] = replace$(.text$, tab$, " ", 0)
								.start[.n] = .a
								.end[.n] = .b
							endif
						endif
					endif
				endfor
				if .n = 0 and .tierNote$ = ""
					.tierNote$ = "tier '" + tier$ + "' in " + .tgName$ + " has no labelled interval"
				endif
			endif
			removeObject: .textgrid
		endif
	endif
	.tierColumn$ = tier$
	if .n = 0
		# no tier asked for, or none to be had (noted): the whole file
		.n = 1
		.label$[1] = ""
		.start[1] = .xmin
		.end[1] = .xmax
		.tierColumn$ = ""
	endif

	# A TextGrid whose time domain is not its sound's was made for another
	# version of the sound: every row says so (ganphon's domain_note; times
	# within half a sample period or 1 ms are the same).
	if .soundOk and .tierColumn$ <> ""
		.tolerance = max(.dx / 2, 0.001)
		if abs(.tgXmin - .xmin) > .tolerance or abs(.tgXmax - .xmax) > .tolerance
			.tierNote$ = "the TextGrid spans " + string$(round(.tgXmin * 1000)) + " to "
			... + string$(round(.tgXmax * 1000)) + " ms, the sound " + string$(round(.xmin * 1000)) + " to "
			... + string$(round(.xmax * 1000)) + " ms (made for another version of the sound?)"
		endif
	endif

	# Intervals past the sound: measured within it, or not at all when they
	# lie wholly outside (the rule of ganphon's clip_intervals).
	for .k to .n
		.note$[.k] = ""
		.outside[.k] = 0
		if .soundOk
			.where$ = "interval " + string$(round(.start[.k] * 1000)) + " to " + string$(round(.end[.k] * 1000))
			... + " ms"
			.domain$ = "the sound (" + string$(round(.xmin * 1000)) + " to " + string$(round(.xmax * 1000)) + " ms)"
			if .start[.k] >= .xmax or .end[.k] <= .xmin
				.note$[.k] = .where$ + " lies outside " + .domain$
				.outside[.k] = 1
			elsif .end[.k] > .xmax + .dx / 2 or .start[.k] < .xmin - .dx / 2
				.note$[.k] = .where$ + " runs past " + .domain$ + ", measured within it"
				.start[.k] = max(.start[.k], .xmin)
				.end[.k] = min(.end[.k], .xmax)
			endif
		endif
	endfor

	ganphon_rows$ = ""
	ganphon_bandNote$ = ""
	if .doPitch
		@ganphon_pitch: .sound, .rate, .duration, .silent
	endif
	if .doIntensity
		@ganphon_intensity: .sound, .rate, .duration, .silent
	endif
	if .doFormants
		@ganphon_formants: .sound, .rate, .duration, .silent
	endif
	if .doSpectrum
		@ganphon_spectrum: .sound, .rate, .duration, .silent
	endif
	if .doDuration
		for .k to .n
			@ganphon_row: .k, 0, 0, "duration", .end[.k] - .start[.k]
		endfor
	endif
	appendFile: .out$, ganphon_rows$
	if .soundOk
		removeObject: .sound
	endif
endproc

# One table row into ganphon_rows$ (written once per file, which is faster
# than one file append per row).  The note joins, with "; ", why the file's
# intervals are what they are, what was done to the interval, and why the
# file was not measured (a silent file: all but its durations), or why the
# value is empty by the band rule (ganphon_bandNote$, set by the measure's
# procedure; a frequency above the native Nyquist is emptied here).
procedure ganphon_row: .k, .point, .time, .measure$, .value
	.pointText$ = ""
	.timeText$ = ""
	if .point > 0
		.pointText$ = string$(.point)
		.timeText$ = fixed$(.time, 6)
	endif
	.note$ = ganphon_measureFile.tierNote$
	@ganphon_addNote: .note$, ganphon_measureFile.note$[.k]
	.note$ = ganphon_addNote.joined$
	.nyquist = ganphon_measureFile.rate / 2
	if ganphon_measureFile.outside[.k]
		.value = undefined
	elsif ganphon_measureFile.fileNote$ <> ""
		@ganphon_addNote: .note$, ganphon_measureFile.fileNote$
		.note$ = ganphon_addNote.joined$
	elsif ganphon_measureFile.zero and .measure$ <> "duration"
		@ganphon_addNote: .note$, "silent (all samples are 0)"
		.note$ = ganphon_addNote.joined$
	elsif ganphon_bandNote$ <> "" and .value = undefined
		@ganphon_addNote: .note$, ganphon_bandNote$
		.note$ = ganphon_addNote.joined$
	elsif .value <> undefined and .value > .nyquist and index_regex(.measure$, "^(f0|f0_mean|f0_min|f0_max|f1|f2|f3)$")
		# Praat's interpolation can step past a ceiling at the Nyquist frequency
		.value = undefined
		@ganphon_number: .nyquist
		@ganphon_addNote: .note$, ganphon_measureFile.who$ + ": value above native Nyquist " + ganphon_number.text$ + " Hz"
		.note$ = ganphon_addNote.joined$
	endif
	.valueText$ = ""
	if .value <> undefined
		.valueText$ = fixed$(.value, 6)
	endif
	ganphon_rows$ = ganphon_rows$ + ganphon_measureFile.name$ + tab$ + ganphon_measureFile.tierColumn$ + tab$
	... + ganphon_measureFile.label$[.k] + tab$ + fixed$(ganphon_measureFile.start[.k], 6) + tab$
	... + fixed$(ganphon_measureFile.end[.k], 6) + tab$ + .pointText$ + tab$ + .timeText$ + tab$
	... + .measure$ + tab$ + .valueText$ + tab$ + replace$(.note$, tab$, " ", 0) + newline$
endproc

# A number as ganphon's notes print it: six decimals, trailing zeros dropped.
procedure ganphon_number: .x
	.text$ = replace_regex$(replace_regex$(fixed$(.x, 6), "0+$", "", 1), "\.$", "", 1)
endproc

# The band notes (ganphon/measures.py): the layer, its native Nyquist and the setting.
procedure ganphon_nyquistNote: .rate, .what$, .setting
	@ganphon_number: .rate / 2
	.a$ = ganphon_number.text$
	@ganphon_number: .setting
	ganphon_bandNote$ = ganphon_measureFile.who$ + ": native Nyquist " + .a$ + " Hz < " + .what$ + " "
	... + ganphon_number.text$ + " Hz"
endproc

procedure ganphon_periodNote: .rate, .what$, .window
	@ganphon_number: 1 / .rate * 1000
	.a$ = ganphon_number.text$
	@ganphon_number: .window * 1000
	ganphon_bandNote$ = ganphon_measureFile.who$ + ": native sampling period " + .a$ + " ms too long for "
	... + .what$ + " window " + ganphon_number.text$ + " ms (4 samples needed)"
endproc

procedure ganphon_addNote: .a$, .b$
	.joined$ = .a$
	if .a$ <> "" and .b$ <> ""
		.joined$ = .a$ + "; " + .b$
	elsif .b$ <> ""
		.joined$ = .b$
	endif
endproc

procedure ganphon_pointTime: .k, .i
	.start = ganphon_measureFile.start[.k]
	.end = ganphon_measureFile.end[.k]
	.t = .start + (.i - 0.5) / number_of_points * (.end - .start)
endproc

# Pitch: To Pitch (ac); f0 at N points ("Hertz", "linear"), and the interval's
# mean, minimum and maximum (ProsodyPro-style).
procedure ganphon_pitch: .sound, .rate, .duration, .silent
	.ok = 0
	ganphon_bandNote$ = ""
	if .silent
	elsif pitch_ceiling > .rate / 2
		# the floor, when no ceiling below the Nyquist frequency is left
		if pitch_floor >= .rate / 2
			@ganphon_nyquistNote: .rate, "pitch floor", pitch_floor
		else
			@ganphon_nyquistNote: .rate, "pitch ceiling", pitch_ceiling
		endif
	elsif .duration < 3 / pitch_floor
	else
		selectObject: .sound
		.pitch = To Pitch (ac): 0, pitch_floor, 15, "no", silence_threshold, voicing_threshold,
		... octave_cost, octave_jump_cost, voiced_unvoiced_cost, pitch_ceiling
		.ok = 1
	endif
	for .k to ganphon_measureFile.n
		for .i to number_of_points
			@ganphon_pointTime: .k, .i
			.value = undefined
			if .ok
				selectObject: .pitch
				.value = Get value at time: ganphon_pointTime.t, "Hertz", "linear"
			endif
			@ganphon_row: .k, .i, ganphon_pointTime.t, "f0", .value
		endfor
		.mean = undefined
		.min = undefined
		.max = undefined
		if .ok
			selectObject: .pitch
			.start = ganphon_measureFile.start[.k]
			.end = ganphon_measureFile.end[.k]
			.mean = Get mean: .start, .end, "Hertz"
			.min = Get minimum: .start, .end, "Hertz", "Parabolic"
			.max = Get maximum: .start, .end, "Hertz", "Parabolic"
		endif
		@ganphon_row: .k, 0, 0, "f0_mean", .mean
		@ganphon_row: .k, 0, 0, "f0_min", .min
		@ganphon_row: .k, 0, 0, "f0_max", .max
	endfor
	if .ok
		removeObject: .pitch
	endif
	ganphon_bandNote$ = ""
endproc

# Whether an intensity with this minimum pitch can be computed: the sound
# must be as long as the window (6.4 / minimum pitch) and the window must
# span at least 4 samples of the native series.
procedure ganphon_intensityOk: .minimumPitch, .rate, .duration, .silent, .what$
	.window = 6.4 / .minimumPitch
	.ok = 1
	.note$ = ""
	if .silent
		.ok = 0
	elsif .duration < .window
		.ok = 0
	elsif 4 / .rate > .window * (1 + 1e-9)
		.ok = 0
		@ganphon_periodNote: .rate, .what$, .window
		.note$ = ganphon_bandNote$
	endif
endproc

# Intensity: To Intensity; values at N points ("cubic"), the interval's mean
# ("energy") and maximum ("Parabolic").
procedure ganphon_intensity: .sound, .rate, .duration, .silent
	@ganphon_intensityOk: intensity_minimum_pitch, .rate, .duration, .silent, "intensity"
	.ok = ganphon_intensityOk.ok
	ganphon_bandNote$ = ganphon_intensityOk.note$
	if .ok
		selectObject: .sound
		.intensity = To Intensity: intensity_minimum_pitch, 0, subtract_mean
	endif
	for .k to ganphon_measureFile.n
		for .i to number_of_points
			@ganphon_pointTime: .k, .i
			.value = undefined
			if .ok
				selectObject: .intensity
				.value = Get value at time: ganphon_pointTime.t, "cubic"
			endif
			@ganphon_row: .k, .i, ganphon_pointTime.t, "intensity", .value
		endfor
		.mean = undefined
		.max = undefined
		if .ok
			selectObject: .intensity
			.start = ganphon_measureFile.start[.k]
			.end = ganphon_measureFile.end[.k]
			.mean = Get mean: .start, .end, "energy"
			.max = Get maximum: .start, .end, "Parabolic"
		endif
		@ganphon_row: .k, 0, 0, "intensity_mean", .mean
		@ganphon_row: .k, 0, 0, "intensity_max", .max
	endfor
	if .ok
		removeObject: .intensity
	endif
	ganphon_bandNote$ = ""
endproc

# Formants: To Formant (burg); F1-F3 at N points ("hertz", "linear").
procedure ganphon_formants: .sound, .rate, .duration, .silent
	.ok = 0
	ganphon_bandNote$ = ""
	if .silent
	elsif maximum_formant > .rate / 2
		@ganphon_nyquistNote: .rate, "maximum formant", maximum_formant
	elsif .duration < 2 * formant_window_length
	else
		selectObject: .sound
		.formant = To Formant (burg): 0, number_of_formants, maximum_formant, formant_window_length,
		... pre_emphasis_from
		.ok = 1
	endif
	for .formantNumber to 3
		for .k to ganphon_measureFile.n
			for .i to number_of_points
				@ganphon_pointTime: .k, .i
				.value = undefined
				if .ok
					selectObject: .formant
					.value = Get value at time: .formantNumber, ganphon_pointTime.t, "hertz", "linear"
				endif
				@ganphon_row: .k, .i, ganphon_pointTime.t, "f" + string$(.formantNumber), .value
			endfor
		endfor
	endfor
	if .ok
		removeObject: .formant
	endif
	ganphon_bandNote$ = ""
endproc

# Spectrum of each interval (Extract part with the chosen window, To
# Spectrum): centre of gravity, standard deviation, skewness and kurtosis
# with the chosen power; max_intensity is the maximum ("Parabolic") of an
# intensity whose window is max_intensity_window.  An upsampled layer series:
# the moments inside its native band (the bins above its native Nyquist set
# to 0), from an interval holding "Spectrum min samples" native samples.
procedure ganphon_spectrum: .sound, .rate, .duration, .silent
	@ganphon_intensityOk: 6.4 / max_intensity_window, .rate, .duration, .silent, "max_intensity"
	.intensityOk = ganphon_intensityOk.ok
	.intensityNote$ = ganphon_intensityOk.note$
	.upsampled = .rate < ganphon_measureFile.fs
	@ganphon_number: .rate / 2
	.band$ = ganphon_number.text$
	if .intensityOk
		selectObject: .sound
		.intensity = To Intensity: 6.4 / max_intensity_window, 0, subtract_mean
	endif
	for .k to ganphon_measureFile.n
		.start = ganphon_measureFile.start[.k]
		.end = ganphon_measureFile.end[.k]
		.cog = undefined
		.sd = undefined
		.skewness = undefined
		.kurtosis = undefined
		# the samples Extract part would take (Praat refuses to extract none)
		.samples = 0
		if not .silent
			selectObject: .sound
			.x1 = Get time from sample number: 1
			.dx = Get sampling period
			if .upsampled
				# the native series' samples: the first at xmin + 0.5 / rate
				.dx = 1 / .rate
				.x1 = ganphon_measureFile.xmin + 0.5 * .dx
			endif
			.samples = floor((.end - .x1) / .dx) - ceiling((.start - .x1) / .dx) + 1
		endif
		ganphon_bandNote$ = ""
		if not .silent and .samples < spectrum_min_samples
			ganphon_bandNote$ = ganphon_measureFile.who$ + ": interval holds " + string$(.samples) + " samples < "
			... + string$(spectrum_min_samples) + " needed for spectral moments"
		endif
		if not .silent and .samples >= spectrum_min_samples
			.part = Extract part: .start, .end, spectrum_window_shape$, 1, "no"
			.spectrum = To Spectrum: "yes"
			if .upsampled
				Formula: "if x > " + .band$ + " then 0 else self fi"
			endif
			.cog = Get centre of gravity: spectrum_power
			.sd = Get standard deviation: spectrum_power
			.skewness = Get skewness: spectrum_power
			.kurtosis = Get kurtosis: spectrum_power
			removeObject: .spectrum, .part
		endif
		.max = undefined
		if .intensityOk
			selectObject: .intensity
			.max = Get maximum: .start, .end, "Parabolic"
		endif
		@ganphon_row: .k, 0, 0, "cog", .cog
		@ganphon_row: .k, 0, 0, "sd", .sd
		@ganphon_row: .k, 0, 0, "skewness", .skewness
		@ganphon_row: .k, 0, 0, "kurtosis", .kurtosis
		ganphon_bandNote$ = .intensityNote$
		@ganphon_row: .k, 0, 0, "max_intensity", .max
	endfor
	if .intensityOk
		removeObject: .intensity
	endif
	ganphon_bandNote$ = ""
endproc
