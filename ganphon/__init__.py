"""ganphon: look inside generative networks trained on raw speech with Praat,
TextGrids and mixed-effects regression (Beguš & Zhou 2022)."""

__version__ = "0.1.0"
