# measure_all.praat — part of ganphon
#
# All of ganphon's measures in one pass: pitch (f0 points, f0_mean, f0_min,
# f0_max), intensity (points, intensity_mean, intensity_max), formants (f1-f3
# points), spectrum (cog, sd, skewness, kurtosis, max_intensity), duration.
#
# Fields (the form, in this order):
#   Folder            folder of sounds, with their TextGrids (use a full path)
#   Extension         extension of the sounds to measure: wav, Sound, aiff, …
#   Name pattern      which files: * for all, *_conv4 for ganphon's Conv4 WAVs,
#                     or one file's name without extension
#   Tier              interval tier whose non-empty intervals are measured; the
#                     whole file is measured when it is empty, when the file has
#                     no TextGrid, or when the TextGrid has no such tier / no
#                     labelled interval (noted)
#   Output table      tab-separated table to write (replaced if it exists);
#                     empty: FOLDER/measure_all.tsv
#   Native rate (Hz)  the rate of the series each sound holds, which decides
#                     what it can carry: "manifest" (each file's
#                     rate_native_hz in the folder's manifest.csv, as ganphon
#                     exports it: an upsampled Conv2 WAV holds a 250 Hz
#                     series; a file not listed: its own rate), "file" (each
#                     file's own rate), or a number (Hz) for every file
#
# The TextGrid of name.EXT is name.TextGrid, else the name without its last
# _suffix: ganphon's ID_output.wav, ID_conv3.wav and ID_conv3.Sound all belong
# to ID.TextGrid.  Praat writes the table in UTF-8, or in UTF-16 when a name
# holds letters outside ASCII.
#
# Table columns: file tier label start end point time measure value note
# (point measures: point 1…N at the normalised times (i - 0.5) / N of the
# interval; per-interval measures: point and time empty; undefined: empty).
#
# A file that cannot be measured as asked never stops the folder; its rows
# say why in the note column: a sound Praat cannot read (rows empty but for
# the durations a TextGrid gives), a TextGrid it cannot read, without the
# tier, with overlapping intervals on it or none labelled (the whole file is
# measured), an interval running past the sound (measured within the sound:
# start, end and duration are clipped; one wholly outside has no values), a
# TextGrid whose time domain is not the sound's (made for another version of
# it: measured at its own times, every row saying so).
#
# A measure a sound cannot carry is left empty, with a note naming the
# layer, its native Nyquist frequency and the setting (ganphon's band rule,
# the same in ganphon measure): pitch when the ceiling is above the native
# Nyquist frequency or the sound is shorter than 3 / floor; intensity when
# the sound is shorter than 6.4 / minimum pitch or the window spans fewer
# than 4 native samples; formants when the maximum formant is above the
# native Nyquist frequency; spectral moments of an interval holding fewer
# than "Spectrum min samples" native samples (an upsampled series: the
# moments inside its native band); an F0 or formant value above the native
# Nyquist frequency; everything but duration on a silent file.  An upsampled
# Conv2 WAV (native 250 Hz) carries what its 250 Hz series carries, no more.
#
# Run from the command line (arguments in the order of the form):
#   praat --run SCRIPT.praat "/full/path/to/folder" wav "*" auto "" ...
# or from Python: parselmouth.praat.run_file("SCRIPT.praat", folder, "wav", ...),
# or ganphon.praat.run_script("SCRIPT", folder, tier="auto", ...).
# The analyses use the same commands and arguments as ganphon's Python
# measures (ganphon measure), so both give the same numbers.
#
# Requires ganphon_procedures.praat in the same folder.  Praat 6.1 or later.
#
# Measure fields:
#   Number of points  time points per interval for point measures
#   Pitch floor (Hz), Pitch ceiling (Hz), Silence threshold, Voicing
#   threshold, Octave cost, Octave-jump cost, Voiced / unvoiced cost
#                     arguments of To Pitch (ac) (time step automatic,
#                     15 candidates, not very accurate); defaults: the paper's
#                     ciwGAN 75-450 Hz (Praat's own: 75-600 Hz).
#                     ganphon measure uses 5-150 Hz on Conv1 / Conv2 and
#                     clips each layer's ceiling to its native Nyquist
#                     (ganphon measure --show-settings prints the table).
#   Intensity minimum pitch (Hz), Subtract mean
#                     arguments of To Intensity (time step automatic)
#   Maximum formant (Hz), Number of formants, Formant window length (s),
#   Pre-emphasis from (Hz)
#                     arguments of To Formant (burg) (time step automatic)
#   Spectrum power    power of the moments (Get centre of gravity: 2, …)
#   Spectrum window shape
#                     window of Extract part (relative width 1) before
#                     To Spectrum (fast); rectangular by default because
#                     the Hanning and Hamming windows differ between Praat
#                     6.1 and 6.3, the rectangular one gives the same
#                     moments in both
#   Spectrum min samples
#                     fewest samples an interval must hold for its moments
#   Max intensity window (s)
#                     physical window of the intensity whose maximum over the
#                     interval is max_intensity (13.3 ms: minimum pitch
#                     6.4 / 0.0133 = 481 Hz, as for [s] in Begus 2020)

form measure_all (ganphon)
	comment Files (full path of the folder)
	sentence Folder /path/to/folder
	word Extension wav
	sentence Name_pattern *
	sentence Tier auto
	natural Number_of_points 10
	sentence Output_table
	sentence Native_rate_(Hz) manifest
	comment Pitch (To Pitch (ac))
	positive Pitch_floor_(Hz) 75
	positive Pitch_ceiling_(Hz) 450
	real Silence_threshold 0.03
	real Voicing_threshold 0.45
	real Octave_cost 0.01
	real Octave_jump_cost 0.35
	real Voiced_unvoiced_cost 0.14
	comment Intensity (To Intensity)
	positive Intensity_minimum_pitch_(Hz) 100
	boolean Subtract_mean 1
	comment Formants (To Formant (burg))
	positive Maximum_formant_(Hz) 5500
	positive Number_of_formants 5
	positive Formant_window_length_(s) 0.025
	positive Pre_emphasis_from_(Hz) 50
	comment Spectrum (Extract part, To Spectrum)
	positive Spectrum_power 2
	optionmenu Spectrum_window_shape 1
		option rectangular
		option triangular
		option parabolic
		option Hanning
		option Hamming
		option Gaussian1
		option Gaussian2
		option Kaiser1
		option Kaiser2
	natural Spectrum_min_samples 32
	positive Max_intensity_window_(s) 0.0133
endform

include ganphon_procedures.praat
@ganphon_measureFolder: "measure_all", 1, 1, 1, 1, 1
