# measure_intensity.praat — part of ganphon
#
# Intensity (dB) at N normalised time points per interval (intensity) and
# the interval's intensity_mean (energy average) and intensity_max.
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
#                     empty: FOLDER/measure_intensity.tsv
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
# start, end and duration are clipped; one wholly outside has no values).
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
#   Intensity minimum pitch (Hz), Subtract mean
#                     arguments of To Intensity (time step automatic)

form measure_intensity (ganphon)
	comment Files (full path of the folder)
	sentence Folder /path/to/folder
	word Extension wav
	sentence Name_pattern *
	sentence Tier auto
	natural Number_of_points 10
	sentence Output_table
	sentence Native_rate_(Hz) manifest
	comment Intensity (To Intensity)
	positive Intensity_minimum_pitch_(Hz) 100
	boolean Subtract_mean 1
endform

include ganphon_procedures.praat
@ganphon_measureFolder: "measure_intensity", 0, 1, 0, 0, 0
