# setup.praat — ganphon's Praat plugin
#
# Praat runs this file at start-up when the folder plugin_ganphon is in
# Praat's preferences folder (install it with: ganphon praat-plugin --install).
# It adds to the Objects window's Praat menu:
#
#   Praat > ganphon > Measure folder...      any measure, one file at a time with
#                                            progress in the Info window; opens the table
#   Praat > ganphon > Measure script > Pitch... / Intensity... / Formants... /
#                                      Spectrum... / Duration... / All...
#                                            the measure scripts' own forms (every setting)
#   Praat > ganphon > View sample...         the output with its TextGrid in one editor,
#                                            the layers in a second, grouped
#   Praat > ganphon > View sweep...          one sweep row: one editor per layer, the
#                                            values as channels, grouped

Add menu command: "Objects", "Praat", "ganphon", "", 0, ""
Add menu command: "Objects", "Praat", "Measure folder...", "ganphon", 1, "measure_folder.praat"
Add menu command: "Objects", "Praat", "Measure script", "ganphon", 1, ""
Add menu command: "Objects", "Praat", "Pitch...", "Measure script", 2, "measure_pitch.praat"
Add menu command: "Objects", "Praat", "Intensity...", "Measure script", 2, "measure_intensity.praat"
Add menu command: "Objects", "Praat", "Formants...", "Measure script", 2, "measure_formants.praat"
Add menu command: "Objects", "Praat", "Spectrum...", "Measure script", 2, "measure_spectrum.praat"
Add menu command: "Objects", "Praat", "Duration...", "Measure script", 2, "measure_duration.praat"
Add menu command: "Objects", "Praat", "All...", "Measure script", 2, "measure_all.praat"
Add menu command: "Objects", "Praat", "View sample...", "ganphon", 1, "view_sample.praat"
Add menu command: "Objects", "Praat", "View sweep...", "ganphon", 1, "view_sweep.praat"
