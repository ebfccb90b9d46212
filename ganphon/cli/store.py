"""``ganphon export-files``: Praat files on demand from a columnar store; the ``--store`` option."""

from __future__ import annotations

from .options import add_out, add_overwrite, add_quiet, describe, input_folder, name_list

STORE_KINDS = ("files", "zarr")  # ganphon.store.STORE_KINDS, without importing the stage

EPILOG = """\
selections (comma-separated, mixed freely):
  b003_v007          one sample id
  'b003_*'           every id matching a pattern (quote it for the shell)
  0:100  250:        positions in the run (first sample 0, end excluded)

examples:
  ganphon sweep --checkpoint demo --var z11 --from -15 --to 5 --step 2 --bases 100 --store zarr --out big
  ganphon export-files big --samples 'b000_*,b042_v010' --out for_praat"""


def add_store(p) -> None:
    """``--store {files,zarr}``: one file per series, or the columnar store."""
    p.add_argument("--store", choices=STORE_KINDS, default="files",
                   help="files: WAV + Sound + TextGrid per sample (small runs); zarr: every series as chunked, "
                   "compressed arrays + Parquet tables, resumable per chunk, files on demand with "
                   "'ganphon export-files' (needs pip install 'ganphon[scale]')")


def exporter(store: str):
    """The function that writes a probe run: :func:`ganphon.export.run_export` or :func:`ganphon.store.run_store`."""
    if store == "zarr":
        from ..store import run_store

        return run_store
    from ..export import run_export

    return run_export


def print_summary(result) -> None:
    """Print the run summary lines a store run attaches to its result (nothing for a file run)."""
    for line in getattr(result, "attrs", {}).get("run_summary", []):
        print(line)


def export_files(p) -> None:
    describe(p, "Write the WAV, Sound and TextGrid files of chosen samples of a run kept as a columnar store "
             "(probe/sweep --store zarr), byte for byte what a file export writes (with the 'auto' tier "
             "when the store is annotated), plus manifest.csv and latents.csv for the selection: Praat, the "
             "bundled scripts and 'ganphon measure' open the folder as any exported folder. Rerunning the "
             "same command resumes.", EPILOG)
    p.add_argument("dir", metavar="DIR", type=input_folder, help="store folder (from --store zarr)")
    p.add_argument("--samples", type=name_list, default="all",
                   help="which samples: ids, patterns and position ranges, comma-separated (see below)")
    p.add_argument("--wav-layers", action="store_true", default=None,
                   help="also write each layer upsampled to the output rate as a float WAV, ID_<layer>.wav "
                   "(default: as the store was made; each layer is always written as its native-rate Sound)")
    add_out(p)
    add_overwrite(p)
    add_quiet(p)
    p.set_defaults(func=_export_files)


def export_wavs(p) -> None:
    describe(p, "Write ID_<layer>.wav, each layer upsampled to the output rate as a float32 WAV, for every "
             "layer of an exported folder stored only as its native-rate Sound (the default of probe and "
             "sweep): the samples measure computes in memory (linear interpolation between sample centres, "
             "edges held, the run's --clip), for Praat's own scripts or other programs that read the folder. "
             "Existing WAVs are kept.")
    p.add_argument("dir", metavar="DIR", type=input_folder, help="folder written by 'ganphon probe' or 'ganphon sweep'")
    add_quiet(p)
    p.set_defaults(func=_export_wavs)


def _export_wavs(args) -> int:
    from ..export import write_layer_wavs

    written = write_layer_wavs(args.dir, progress=not args.quiet)
    print(f"wrote {written} layer WAVs in {args.dir}")
    return 0


def _export_files(args) -> int:
    from ..store import export_files

    manifest = export_files(args.dir, args.out, args.samples, overwrite=args.overwrite,
                            progress=not args.quiet, command=args.command_line, wav_layers=args.wav_layers)
    print(f"exported {manifest['sample_id'].nunique()} samples × {manifest['layer'].nunique()} series "
          f"to {args.out} (manifest.csv, latents.csv, run.json)")
    return 0
