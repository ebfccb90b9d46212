# setup.praat — ganphon's Praat plugin
#
# Praat runs this file at start-up when the folder plugin_ganphon is in
# Praat's preferences folder (install it with: ganphon praat-plugin --install).
# It adds to the Objects window's Praat menu:
#
#   Praat > ganphon > Measure folder > Pitch... / Intensity... / Formants... /
#                                      Spectrum... / Duration...
#   Praat > ganphon > Measure all...
#   Praat > ganphon > View sample...
#
# Each Measure command opens the form of the measure script of the same name
# (measure_pitch.praat …, copied here at install time); View sample opens a
# sample's output, layer series and TextGrid together in one editor.

Add menu command: "Objects", "Praat", "ganphon", "", 0, ""
Add menu command: "Objects", "Praat", "Measure folder", "ganphon", 1, ""
Add menu command: "Objects", "Praat", "Pitch...", "Measure folder", 2, "measure_pitch.praat"
Add menu command: "Objects", "Praat", "Intensity...", "Measure folder", 2, "measure_intensity.praat"
Add menu command: "Objects", "Praat", "Formants...", "Measure folder", 2, "measure_formants.praat"
Add menu command: "Objects", "Praat", "Spectrum...", "Measure folder", 2, "measure_spectrum.praat"
Add menu command: "Objects", "Praat", "Duration...", "Measure folder", 2, "measure_duration.praat"
Add menu command: "Objects", "Praat", "Measure all...", "ganphon", 1, "measure_all.praat"
Add menu command: "Objects", "Praat", "View sample...", "ganphon", 1, "view_sample.praat"
