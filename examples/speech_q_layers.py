"""Speech through the Q-network — Beguš & Zhou, ICASSP 2022, on the synthetic corpus.

The ICASSP 2022 paper feeds words to the Q-network of a ciwGAN (the network
that learned to tell the generator's codes apart), averages each conv layer's
feature maps after LeakyReLU, and compares the averages with the acoustics of
the words themselves.  This script does that with the bundled demo model:

1. synthesise #TV / #sTV words with ground-truth TextGrids (``ganphon corpus synth``);
2. run them through the Q-network and export conv1 … conv5 for Praat
   (``ganphon probe --network q --wavs``);
3. measure intensity and F0 in the vowels of every file, input and layers
   alike (the ``phones`` tier of the copied TextGrids);
4. correlate each layer with the input per measure (the paper's table with
   the input as "output"), and score the Q-network's predicted code against
   the word, its stop, vowel and [s] (codes are learned: the best
   code-to-label mapping is reported).

    python examples/speech_q_layers.py --checkpoint demo --n 60 --out speech_q_run

Held-out words: the demo model was trained on the corpus of seed 1, so the
default seed here is 2.
"""

import argparse
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--checkpoint", default="demo", help="ciwGAN / fiwGAN checkpoint with a Q-network")
ap.add_argument("--n", type=int, default=60, help="synthetic words")
ap.add_argument("--seed", type=int, default=2, help="seed of the synthetic corpus")
ap.add_argument("--words", default=None, help="stv words to draw from, e.g. 'ta,sta,pi' (default: all)")
ap.add_argument("--label-columns", default="word,stop,vowel,has_s",
                help="corpus.csv columns to score the predicted code against (the first one's tables are saved)")
ap.add_argument("--workers", type=int, default=2, help="processes measuring")
ap.add_argument("--out", default="speech_q_run")
args = ap.parse_args()

from ganphon.acoustics import measure_to_file  # noqa: E402  (after --help, which must stay light)
from ganphon.corpus.synth import synthesize  # noqa: E402
from ganphon.io import write_table  # noqa: E402
from ganphon.models import load_checkpoint  # noqa: E402
from ganphon.speech import probe_speech  # noqa: E402
from ganphon.stats import correlation_table  # noqa: E402
from ganphon.stats.speech import code_table, prediction_tables  # noqa: E402

out = Path(args.out)
corpus, probed = out / "corpus", out / "q_layers"
synthesize("stv", args.n, args.seed, corpus, words=args.words.split(",") if args.words else None, progress=False,
           overwrite=True)
model = load_checkpoint(args.checkpoint)
probe_speech(model, corpus, probed, network="q", overwrite=True, progress=False)

VOWELS = ["ɑ", "i", "u"]
table, _, _ = measure_to_file(probed, measures=("intensity", "pitch"), tier="phones", workers=args.workers,
                              progress=False, overwrite=True, command="examples/speech_q_layers.py")
corr = correlation_table(table, ["intensity", "f0"], labels=VOWELS)
print("Pearson r of each Q layer's average with the input word, in the vowels:")
print(corr.pivot(index="measure", columns="layer", values="r").round(2).to_string())

columns = [c.strip() for c in args.label_columns.split(",") if c.strip()]
for i, column in enumerate(columns):
    found, notes = prediction_tables(probed, column)
    print(f"\nQ-network's predicted code per {column} (rows: {column}, columns: code):")
    print(found["confusion"].to_string(index=False))
    print(found["prediction_accuracy"].round(3).to_string(index=False))
    print(code_table(found["predictions"]).round(3).to_string(index=False))
    if i == 0:
        tables = found
write_table(corr, out / "correlations.csv")
for name, frame in tables.items():
    write_table(frame, out / f"{name}.csv")
print(f"\nwrote {probed}/ (open any ID_conv3.wav with ID.TextGrid in Praat), {out}/correlations.csv, "
      f"{out}/confusion.csv, {out}/prediction_accuracy.csv")
