# measure_folder.praat — part of ganphon's Praat plugin (Praat > ganphon > Measure folder...)
#
# Measures every sound of a folder with one of ganphon's measure scripts
# (measure_all.praat, measure_pitch.praat …, in this folder), one file at a
# time so that the Info window shows the progress, then writes one table and
# opens it in Praat (Table object; View & Edit to browse it).
#
# Fields:
#   Folder            the folder (Choose... picks it): ganphon's export, or any
#                     folder of name.wav + name.TextGrid
#   Measure           all, pitch, intensity, formants, spectrum or duration
#   Extension         extension of the sounds: wav, or Sound for ganphon's
#                     native-rate layer series
#   Name pattern      which files: * for all, *_output for ganphon's outputs
#   Tier              interval tier to measure (empty: whole files)
#   Number of points  time points per interval for point measures
#   Output table      the table to write; empty: FOLDER/ganphon_<measure>.tsv
#   Open table        read the table into Praat when done
#
# Analysis settings are the measure script's own defaults (Praat's; see the
# script's header); for other settings run the script itself (Praat > ganphon >
# Measure folder > Pitch... etc.) or ganphon measure --settings.

form Measure folder (ganphon)
	folder Folder /path/to/folder
	optionmenu Measure 1
		option all
		option pitch
		option intensity
		option formants
		option spectrum
		option duration
	word Extension wav
	sentence Name_pattern *
	sentence Tier auto
	natural Number_of_points 10
	sentence Output_table
	boolean Open_table 1
endform

include ganphon_view.praat

@ganphonFolder: folder$
folder$ = ganphonFolder.folder$
script$ = "measure_" + measure$ + ".praat"
if not fileReadable(script$)
	# ganphon's source tree keeps the measure scripts one folder up
	script$ = "../" + script$
endif
if not fileReadable(script$)
	exitScript: "Cannot find ", script$, " next to measure_folder.praat (reinstall the plugin: ganphon praat-plugin --install)"
endif
files = Create Strings as file list: "ganphon_files", folder$ + "/" + name_pattern$ + "." + extension$
Sort
n = Get number of strings
if n = 0
	removeObject: files
	exitScript: "No files ", name_pattern$, ".", extension$, " in ", folder$
endif
out$ = output_table$
if out$ = ""
	out$ = folder$ + "/ganphon_" + measure$ + ".tsv"
endif
if fileReadable(out$)
	deleteFile: out$
endif
part$ = temporaryDirectory$ + "/ganphon_measure_part_" + string$(randomInteger(1, 1000000000)) + ".tsv"

# the script's fields after the output table keep the defaults of its own form
@ganphonFormDefaults: script$
writeInfoLine: "ganphon: measuring ", n, " files of ", folder$, " with ", script$
appendInfoLine: "(tier '", tier$, "', Praat's default settings); table: ", out$
stopwatch
for i to n
	selectObject: files
	file$ = Get string: i
	stem$ = left$(file$, length(file$) - length(extension$) - 1)
	# an exact name, not a pattern: brackets or stars in a file name are taken literally by the script
	if measure$ = "duration" or measure$ = "spectrum"
		args$ = """" + folder$ + """, """ + extension$ + """, """ + stem$ + """, """ + tier$ + """, """ + part$ + """"
	else
		args$ = """" + folder$ + """, """ + extension$ + """, """ + stem$ + """, """ + tier$ + """, " + string$(number_of_points) + ", """ + part$ + """"
	endif
	if ganphonFormDefaults.rest$ <> ""
		args$ = args$ + ", " + ganphonFormDefaults.rest$
	endif
	runScript: script$, 'args$'
	text$ = readFile$(part$)
	if i > 1
		text$ = mid$(text$, index(text$, newline$) + 1, length(text$))
	endif
	appendFile: out$, text$
	if i = 1 or i = n or i mod 10 = 0
		appendInfoLine: "  ", i, "/", n, "  ", file$, "  (", fixed$(stopwatch, 1), " s)"
	endif
endfor
deleteFile: part$
removeObject: files
appendInfoLine: "done: ", out$
if open_table
	table = Read Table from tab-separated file: out$
	appendInfoLine: "opened as ", selected$()
endif
