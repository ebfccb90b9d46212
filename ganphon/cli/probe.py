"""``ganphon probe``: generate, probe every layer and export for Praat; or probe given waveforms."""

from __future__ import annotations

from ..errors import GanphonError
from .options import (add_batch_size, add_checkpoint, add_device, add_out, add_overwrite, add_quiet, add_scheduler,
                      add_seed, add_yes, describe, finite_float, input_folder, name_list, names, positive_int)
from .store import add_store

NETWORKS = ("generator", "q", "critic")  # ganphon.speech.NETWORKS, without importing the stage
ENCODERS = ("crepe", "crepe:tiny", "crepe:full", "hf:PATH")  # ganphon.models.encoders.load_encoder
DEFAULT_N = 10


def probe(p) -> None:
    describe(p, "Generate N samples from a checkpoint, take each layer's channel average (after ReLU, as "
             "in Beguš & Zhou 2022) and export per sample: ID_output.wav, ID_<layer>.Sound (native rate, exact; "
             "ID_<layer>.wav upsampled to the output rate only with --wav-layers), ID.TextGrid, plus manifest.csv, "
             "latents.csv and run.json. Rerunning the same command resumes; a different command into a "
             "non-empty folder needs --overwrite.\n\n"
             "With --network q or critic and --wavs DIR, given waveforms (your recordings: any rate and "
             "channels, mixed down, resampled, cut or padded to the slice, every change counted) go "
             "through the Q-network or critic instead (Beguš & Zhou, ICASSP 2022): the same files, with "
             "ID_output.wav the input as the network saw it, conv1 … convK after LeakyReLU, the input's "
             "own TextGrid moved like the audio, and the prediction (code probabilities or critic score) "
             "in manifest.csv. --tier cuts every labelled interval of that tier of long recordings "
             "(X.wav + X.TextGrid) instead.\n\n"
             "With --network crepe[:tiny|full] or hf:PATH (a local wav2vec 2.0 / HuBERT / WavLM folder) "
             "and --wavs DIR, a pretrained encoder takes the waveforms (resampled to 16 kHz): every conv "
             "layer's channel mean after its activation (CREPE: per 1024-sample frame, also averaged over "
             "the frame's positions, plus CREPE's own pitch; HF: plus every transformer layer's mean over "
             "hidden units), each sample at its receptive field's centre; no --checkpoint.",
             epilog="examples:\n"
                    "  ganphon probe --checkpoint demo --n 20 --out probe_run\n"
                    "  ganphon probe --checkpoint demo --network q --wavs my_words --out q_layers\n"
                    "  ganphon probe --checkpoint demo --network q --wavs recordings --tier words --out q_words\n"
                    "  ganphon probe --network crepe:tiny --wavs my_words --out crepe_layers\n"
                    "  ganphon probe --network hf:models/wav2vec2-base --wavs my_words --out w2v_layers")
    add_checkpoint(p, required=False, help=" (not with an encoder --network)")
    p.add_argument("--network", default=None, metavar="NETWORK",
                   help="which network to probe: generator (latents in; the default without --wavs), "
                   "q or critic (waveforms in; needs --wavs and --checkpoint), or a pretrained encoder: "
                   "crepe (= crepe:tiny), crepe:full, hf:PATH (waveforms in; needs --wavs)")
    p.add_argument("--slice-len", type=positive_int, default=None, metavar="N",
                   help="with an encoder: samples per input at 16 kHz, longer inputs cut, shorter padded "
                   "(default: 16384 = 1.024 s)")
    p.add_argument("--hop", type=positive_int, default=None, metavar="N",
                   help="with --network crepe: samples between CREPE's frames at 16 kHz (default: 160 = 10 ms)")
    p.add_argument("--wavs", default=None, metavar="DIR", type=input_folder,
                   help="folder of WAV files (searched recursively) to run through --network q or critic; "
                   "X.TextGrid beside X.wav is copied")
    p.add_argument("--tier", default=None,
                   help="with --wavs: cut every non-empty interval of this interval tier of the recordings' "
                   "TextGrids (e.g. words) and probe each")
    p.add_argument("--labels", type=name_list, default=None,
                   help="with --tier: comma-separated interval labels to keep (default: every non-empty one)")
    p.add_argument("--n", type=positive_int, default=None,
                   help=f"number of samples to generate; not with --wavs (default: {DEFAULT_N})")
    add_seed(p, help="seed of the latent draw")
    p.add_argument("--code", default=None,
                   help="fix the code: a ciwGAN category 1…k, or k comma-separated values like '0,1.5' "
                   "(default: random codes; not with --wavs)")
    p.add_argument("--layers", type=name_list, default=None, help="comma-separated layers (default: dense, conv1 … convK; "
                   "with --wavs: conv1 … convK)")
    p.add_argument("--reduce", choices=("mean", "sum", "max", "rms"), default="mean",
                   help="how channels are combined")
    p.add_argument("--activation", choices=("post", "pre"), default="post",
                   help="after the ReLU / LeakyReLU (the papers) or before it")
    p.add_argument("--feature-maps", type=name_list, default=None,
                   help="comma-separated layers whose individual channels are saved as featuremaps_<layer>.npy "
                   "[N, channels, n]")
    p.add_argument("--clip", type=finite_float, default=None,
                   help="clip layer WAVs to ±CLIP, CLIP > 0 (the paper: 1.0), as measured; the Sounds keep true values")
    p.add_argument("--wav-layers", action="store_true",
                   help="also write each layer upsampled to the output rate as a float WAV, ID_<layer>.wav "
                   "(each layer is always stored once as its native-rate Sound, which measure upsamples in "
                   "memory to the same samples; also with --network q or critic; an encoder always writes them)")
    add_batch_size(p)
    add_device(p)
    add_out(p)
    add_store(p)
    add_scheduler(p, "with --store zarr, generate the chunks as Dask tasks")
    add_overwrite(p)
    add_yes(p)
    add_quiet(p)
    p.set_defaults(func=_probe)


def _check(args) -> str:
    """The network to probe, after every combination of options is checked."""
    from ..models.encoders import is_encoder

    network = args.network or ("generator" if args.wavs is None else None)
    encoder = is_encoder(network)
    if network is not None and network not in NETWORKS and not encoder:
        raise GanphonError(f"--network {network!r}: choose one of {', '.join(NETWORKS + ENCODERS)}")
    if not encoder:
        for option, value in (("--slice-len", args.slice_len), ("--hop", args.hop)):
            if value is not None:
                raise GanphonError(f"{option} is for a pretrained encoder (--network crepe or hf:PATH)")
        if args.checkpoint is None:
            raise GanphonError("--checkpoint is required (a ganphon checkpoint file, or 'demo')")
    elif args.checkpoint is not None:
        raise GanphonError(f"--checkpoint: --network {network} brings its own weights; leave --checkpoint out")
    if args.wavs is None:
        if network != "generator":
            raise GanphonError(f"--network {network} probes given waveforms: pass --wavs DIR")
        for option, value in (("--tier", args.tier), ("--labels", args.labels)):
            if value is not None:
                raise GanphonError(f"{option} needs --wavs DIR")
        return network
    if network is None or network == "generator":
        raise GanphonError("--wavs runs given waveforms through a network that takes them: "
                           "add --network q, critic, crepe or hf:PATH")
    for option, value in (("--n", args.n), ("--code", args.code)):
        if value is not None:
            raise GanphonError(f"{option} is for generating samples; it cannot be used with --wavs "
                               "(every input is probed once)")
    if args.labels is not None and args.tier is None:
        raise GanphonError("--labels needs --tier (the tier whose intervals are cut)")
    return network


def _probe(args) -> int:
    network = _check(args)
    if args.scheduler and (args.store != "zarr" or network != "generator"):
        raise GanphonError("--scheduler: probe generates on Dask only into a store (--store zarr)")
    from ..models.encoders import is_encoder

    if is_encoder(network):
        return _probe_encoder(args, network)
    if network != "generator":
        return _probe_waveforms(args, network)

    from ..models import Latent, load_checkpoint
    from .store import exporter, print_summary

    n = DEFAULT_N if args.n is None else args.n
    model = load_checkpoint(args.checkpoint, qnetwork=False)
    from ..sweep import check_size

    check_size(model, n, args.out, yes=args.yes)
    latents = Latent(model.config).sample(n, args.seed, code=args.code)
    request = {"kind": "probe", "n": n, "seed": args.seed, "code": args.code}
    manifest = exporter(args.store)(model, latents, args.out, layers=names(args.layers), reduce=args.reduce,
                          activation=args.activation, clip=args.clip, feature_maps=names(args.feature_maps) or [],
                          batch_size=args.batch_size, device=args.device, seed=args.seed,
                          request=request, command=args.command_line,
                          overwrite=args.overwrite, progress=not args.quiet,
                          **({"wav_layers": True} if args.wav_layers else {}),
                          **({"scheduler": args.scheduler} if args.scheduler else {}))
    n_layers = manifest["layer"].nunique()
    print(f"exported {n} samples × {n_layers} series to {args.out} (manifest.csv, latents.csv, run.json)")
    print_summary(manifest)
    return 0


def _probe_waveforms(args, network: str) -> int:
    from ..models import load_checkpoint
    from ..speech import probe_speech

    model = load_checkpoint(args.checkpoint, critic=network == "critic", qnetwork=network == "q")
    manifest = probe_speech(model, args.wavs, args.out, network=network, tier=args.tier,
                            labels=names(args.labels), layers=names(args.layers), reduce=args.reduce,
                            activation=args.activation, clip=args.clip,
                            feature_maps=names(args.feature_maps) or [], batch_size=args.batch_size,
                            device=args.device, command=args.command_line, overwrite=args.overwrite,
                            progress=not args.quiet, wav_layers=args.wav_layers)
    n_items, n_layers = manifest["sample_id"].nunique(), manifest["layer"].nunique()
    print(f"exported {n_items} inputs × {n_layers} series ({network}) to {args.out} (manifest.csv, run.json)")
    if network == "q":
        first = manifest.drop_duplicates("sample_id")
        counts = first["predicted_code"].value_counts().sort_index()
        print("predicted codes: " + ", ".join(f"{code}: {k}" for code, k in counts.items()))
    return 0


def _probe_encoder(args, network: str) -> int:
    from ..speech import probe_encoder

    for option, value in (("--reduce", args.reduce != "mean"), ("--activation", args.activation != "post"),
                          ("--feature-maps", bool(args.feature_maps)), ("--clip", args.clip is not None),
                          ("--store", args.store not in (None, "files"))):
        if value:
            raise GanphonError(f"{option}: an encoder gives channel means after the activation, as files")
    manifest = probe_encoder(network, args.wavs, args.out, tier=args.tier, labels=names(args.labels),
                             layers=names(args.layers), slice_len=args.slice_len, hop=args.hop,
                             batch_size=args.batch_size, device=args.device,
                             command=args.command_line, overwrite=args.overwrite, progress=not args.quiet)
    n_items, n_layers = manifest["sample_id"].nunique(), manifest["layer"].nunique()
    print(f"exported {n_items} inputs × {n_layers} series ({network}) to {args.out} (manifest.csv, run.json)")
    return 0
