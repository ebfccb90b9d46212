"""The columnar store: the same numbers and files as the file route, resumable per chunk, on Dask.

Needs the optional extra ganphon[scale] (zarr, pyarrow, dask, distributed):
skipped locally when it is absent, a failure under CI=true.
"""

import filecmp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
import pytest
from conftest import stop_processes
import scipy.io.wavfile
import tgt
import torch

from ganphon import io, layout
from ganphon.cli import main
from ganphon.errors import GanphonError


def need(module):
    """Import ``module`` of the scale extra; skip locally, fail under CI=true when it is missing."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is missing, but CI=true requires the ganphon[scale] tests to run")
        pytest.skip(f"{module} not installed (pip install 'ganphon[scale]')")


@pytest.fixture(autouse=True, scope="module")
def _scale_extra():
    # module scope, so it runs before the module-scoped fixtures that use the store
    for module in ("zarr", "pyarrow"):
        need(module)


SWEEP = ["--var", "z11", "--from", "-3", "--to", "3", "--step", "3", "--bases", "3", "--seed", "2"]


@pytest.fixture(scope="module")
def swept(tiny_ciwgan, tmp_path_factory):
    """The same sweep (9 samples, annotated and measured) as files and through the store, then exported."""
    for module in ("zarr", "pyarrow"):
        need(module)
    root = tmp_path_factory.mktemp("swept")
    files, store, exported = root / "files", root / "store", root / "exported"
    common = ["sweep", "--checkpoint", str(tiny_ciwgan), *SWEEP, "--workers", "1", "--quiet"]
    assert main([*common, "--out", str(files)]) == 0
    assert main([*common, "--out", str(store), "--store", "zarr"]) == 0
    assert main(["export-files", str(store), "--out", str(exported), "--quiet"]) == 0
    return files, store, exported


def sample_file_names(folder):
    return sorted(p.name for p in Path(folder).iterdir() if layout.parse_sample_file(p.name) is not None)


# ---------------------------------------------------------------- store = files, bit for bit


def test_store_sweep_holds_the_numbers_of_the_file_sweep(swept, tiny_ciwgan):
    from ganphon.models import load_checkpoint
    from ganphon.store import open_store
    from ganphon.sweep import make_design

    files, store_dir, _ = swept
    st = open_store(store_dir)
    assert not any(p.suffix in (".wav", ".Sound", ".TextGrid") for p in store_dir.iterdir())
    assert len(st) == 9 and st.layers == ["dense", "conv1", "conv2", "conv3", "conv4"]
    # independent reference for the output: the generator's own forward pass on the design's latents
    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    design = make_design(model.config, {"kind": "dimension", "var": "z11", "from": -3, "to": 3, "step": 3,
                                        "bases": 3, "seed": 2})
    with torch.inference_mode():
        expected = model.generator.eval()(design.latents)[:, 0].numpy()
    assert np.array_equal(st.series("output")[:], expected)
    # every WAV and Sound the file sweep wrote, read by scipy and Praat, equals the store's arrays
    for i, sid in enumerate(st.sample_ids):
        sr, wav = scipy.io.wavfile.read(files / layout.layer_wav(sid, "output"))
        assert sr == 16000 and wav.dtype == np.float32 and np.array_equal(wav, st.series("output")[i])
        for layer in st.layers:
            up, _ = io.read_layer_wav(files / layout.layer_wav(sid, layer))  # stored once, as the Sound
            assert np.array_equal(up, st.upsampled(layer)[i])
            sound = parselmouth.read(str(files / layout.layer_sound(sid, layer)))
            native = st.series(layer)[i]
            assert sound.sampling_frequency == len(native) / 1.024
            assert np.array_equal(sound.values[0], native.astype(np.float64))
    # the automatic intervals are those the file sweep wrote into each TextGrid
    ann = st.annotations()
    for sid in st.sample_ids:
        tier = tgt.io.read_textgrid(str(files / layout.textgrid(sid))).get_tier_by_name("auto")
        mine = ann[ann.sample_id == sid]
        assert [(i.start_time, i.end_time, i.text) for i in tier.intervals] == \
            list(zip(mine.start, mine.end, mine.label))
    # the acoustic table (5 measure families on 54 series) is the same file, byte for byte
    assert (files / "acoustics.csv").read_bytes() == (store_dir / "acoustics.csv").read_bytes()
    table = pd.read_csv(store_dir / "acoustics.csv")
    assert table["file"].nunique() == 54 and table["value"].notna().sum() > 1000


def test_export_files_writes_the_direct_export_byte_for_byte(swept):
    files, store_dir, exported = swept
    names = sample_file_names(files)
    assert len(names) == 9 * (1 + 5 + 1) and names == sample_file_names(exported)
    for name in [*names, "manifest.csv", "latents.csv"]:
        assert filecmp.cmp(files / name, exported / name, shallow=False), name


def test_export_files_of_a_selection(swept, tmp_path):
    files, store_dir, _ = swept
    out = tmp_path / "some"
    assert main(["export-files", str(store_dir), "--samples", "b001_*,7:", "--out", str(out), "--quiet"]) == 0
    chosen = ["b001_v000", "b001_v001", "b001_v002", "b002_v001", "b002_v002"]
    assert sorted({layout.parse_sample_file(n)[0] for n in sample_file_names(out)}) == chosen
    for name in sample_file_names(out):
        assert filecmp.cmp(files / name, out / name, shallow=False), name
    direct = (files / "manifest.csv").read_text().splitlines()
    kept = [direct[0]] + [line for line in direct[1:] if line.split(",")[0] in chosen]
    assert (out / "manifest.csv").read_text().splitlines() == kept
    # the same command resumes; another selection into the same folder needs --overwrite
    assert main(["export-files", str(store_dir), "--samples", "b001_*,7:", "--out", str(out), "--quiet"]) == 0
    assert main(["export-files", str(store_dir), "--samples", "b000_v000", "--out", str(out), "--quiet"]) == 2
    assert main(["export-files", str(files), "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_probe_to_store_with_feature_maps_equals_probe_to_files(tiny_ciwgan, tmp_path):
    common = ["probe", "--checkpoint", str(tiny_ciwgan), "--n", "6", "--seed", "4", "--clip", "0.5",
              "--feature-maps", "conv2", "--batch-size", "2", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "files")]) == 0
    assert main([*common, "--out", str(tmp_path / "store"), "--store", "zarr"]) == 0
    assert main(["export-files", str(tmp_path / "store"), "--out", str(tmp_path / "exp"), "--quiet"]) == 0
    names = sample_file_names(tmp_path / "files")
    assert names == sample_file_names(tmp_path / "exp") and len(names) == 6 * 7
    for name in [*names, "manifest.csv", "latents.csv"]:
        assert filecmp.cmp(tmp_path / "files" / name, tmp_path / "exp" / name, shallow=False), name
    direct = np.load(tmp_path / "files" / "featuremaps_conv2.npy")
    assert np.array_equal(direct, np.load(tmp_path / "exp" / "featuremaps_conv2.npy"))
    from ganphon.store import open_store

    assert np.array_equal(open_store(tmp_path / "store").feature_maps("conv2")[:], direct)


def stats_tables(folder) -> dict:
    """Every CSV ganphon stats wrote (tables and model frames), as bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "stats").rglob("*.csv"))}


def test_stats_of_a_store_read_its_parquet_parts_and_equal_those_of_the_csv(generated, tmp_path):
    """ganphon stats on a store reads the Parquet parts (no acoustics.csv) and fits what it fits from the
    joined CSV (itself byte-identical to a file sweep's, above)."""
    from ganphon.stats import read_acoustics
    from ganphon.store_analysis import analyse_store

    store_dir, csv_dir = tmp_path / "store", tmp_path / "csv"
    shutil.copytree(generated, store_dir)
    # an untrained generator's output is its stack's buzz: the buzz rule would leave no 'voi' to model
    analyse_store(store_dir, measures=("intensity", "duration"), workers=1, progress=False, buzz_rule=False)
    csv_dir.mkdir()
    shutil.move(store_dir / "acoustics.csv", csv_dir / "acoustics.csv")  # stats must not need it
    for folder in (csv_dir, store_dir):
        assert main(["stats", str(folder), "--measures", "intensity,duration", "--workers", "1", "--quiet"]) == 0
    from_csv, from_store = stats_tables(csv_dir), stats_tables(store_dir)
    assert {"stats/mixed_models.csv", "stats/lrt.csv", "stats/correlations.csv"} <= set(from_csv)
    assert len(pd.read_csv(csv_dir / "stats" / "lrt.csv")) >= 3
    assert len([k for k in from_csv if k.startswith("stats/frames/")]) >= 3
    assert from_store == from_csv
    record = json.loads((store_dir / "stats" / "stats.json").read_text())
    assert record["source"].endswith("acoustics.parquet") and record["seed"]["manifest"] == [1]
    # only the asked measures' rows are read from the parts
    assert set(read_acoustics(store_dir, measures=["intensity"])["measure"]) == {"intensity"}
    assert main(["stats", str(store_dir), "--measures", "nonsense", "--quiet"]) == 2
    # a store whose measuring was cut short is refused, naming the missing part
    (store_dir / "acoustics.parquet" / "c000001.parquet").unlink()
    with pytest.raises(GanphonError, match=r"1 of 3 chunks are not measured \(first: c000001.parquet\)"):
        read_acoustics(store_dir)


def test_a_large_store_sweep_skips_the_joined_csv_and_stats_still_reads_it(swept, tmp_path, monkeypatch, capsys):
    import ganphon.store_analysis

    files, _, _ = swept
    monkeypatch.setattr(ganphon.store_analysis, "CSV_LIMIT", 8)  # the sweep has 9 samples
    out = tmp_path / "big"
    assert main(["sweep", "--checkpoint", str(swept_checkpoint(files)), *SWEEP, "--workers", "1", "--quiet",
                 "--store", "zarr", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "acoustics.csv not written (9 samples > 8)" in printed and "big/manifest.parquet" in printed
    assert not (out / "acoustics.csv").exists() and (out / "acoustics.json").is_file()
    shutil.copytree(files, tmp_path / "files")
    for folder in (out, tmp_path / "files"):
        assert main(["stats", str(folder), "--workers", "1", "--quiet"]) == 0
    assert stats_tables(out) == stats_tables(tmp_path / "files")


def swept_checkpoint(folder):
    return json.loads((Path(folder) / "run.json").read_text())["checkpoint"]


def test_discovery_and_feature_map_clusters_of_a_store_equal_those_of_files(tiny_ciwgan, tmp_path):
    from ganphon.store_analysis import analyse_store

    common = ["probe", "--checkpoint", str(tiny_ciwgan), "--n", "16", "--seed", "5", "--feature-maps", "conv3",
              "--quiet"]
    assert main([*common, "--out", str(tmp_path / "files")]) == 0
    assert main(["annotate", str(tmp_path / "files"), "--workers", "1", "--quiet"]) == 0
    assert main(["measure", str(tmp_path / "files"), "--workers", "1", "--quiet"]) == 0
    assert main([*common, "--out", str(tmp_path / "store"), "--store", "zarr"]) == 0
    analyse_store(tmp_path / "store", workers=1, progress=False, write_table=False)
    assert not (tmp_path / "store" / "acoustics.csv").exists()
    for name in ("files", "store"):
        assert main(["stats", str(tmp_path / name), "--discover", "--workers", "1", "--quiet"]) == 0
    from_files, from_store = stats_tables(tmp_path / "files"), stats_tables(tmp_path / "store")
    assert "stats/correlations.csv" in from_files and from_store == from_files
    # the discovery's property and the feature maps' verdicts (a random network: constant, too close)
    notes = [json.loads((tmp_path / name / "stats" / "stats.json").read_text())["notes"] for name in ("files", "store")]
    assert notes[0] == notes[1] and any("feature maps of conv3" in n for n in notes[0])
    from ganphon.stats.discover import frication_property

    prop = frication_property(tmp_path / "store")
    pd.testing.assert_frame_equal(prop, frication_property(tmp_path / "files"))
    assert len(prop) == 16 and prop["fric_duration"].gt(0).all()


def test_selection_and_errors(swept, tmp_path):
    from ganphon.store import open_store, parse_selection, require

    ids = ["b000_v000", "b000_v001", "b001_v000", "b001_v001"]
    assert parse_selection(None, ids) == [0, 1, 2, 3]
    assert parse_selection("all", ids) == parse_selection(["1:", "all"], ids) == [0, 1, 2, 3]
    assert parse_selection(["b001_v001", " 0:2"], ids) == [0, 1, 3]
    assert parse_selection(("b00?_v000", "-1:"), ids) == [0, 2, 3]
    for bad, what in ((["b009_v000"], "no sample"), (["z*"], "no sample matches"), (["2:x"], "not a range"),
                      (["9:"], "selects no sample"), ([" "], "empty")):
        with pytest.raises(GanphonError, match=what):
            parse_selection(bad, ids)
    # the API takes a list; the command line splits --samples b001_v001,0:2
    with pytest.raises(GanphonError, match=r"^samples: expected a list, got the string 'b001_v001,0:2' "):
        parse_selection("b001_v001,0:2", ids)
    with pytest.raises(GanphonError, match=r"ganphon\[scale\]"):
        require("ganphon_no_such_module")
    with pytest.raises(GanphonError, match="not a ganphon store"):
        open_store(swept[0])
    st = open_store(swept[1])
    with pytest.raises(GanphonError, match="no layer 'conv9'"):
        st.series("conv9")


def test_a_damaged_chunk_is_named_in_one_line_by_every_reader(generated, tmp_path, capsys):
    """A chunk file cut short (a copy that stopped, a full disk) made zarr's codec stop `export-files` with a
    traceback ("RuntimeError: error during blosc decompression: -1"). Every read of a store's arrays names the
    array, the chunk file and its first sample, and nothing is written."""
    from ganphon.store import open_store
    from ganphon.store_analysis import analyse_store

    folder = tmp_path / "store"
    shutil.copytree(generated, folder)
    chunk = folder / "store.zarr" / "conv3" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:50])
    ids = open_store(folder).sample_ids
    want = (f"{folder / 'store.zarr' / 'conv3'}: chunk c/1/0 (samples {ids[4]}…) cannot be read (its bytes do not "
            "match their checksum): a damaged store; write it again (the command is in run.json) with --overwrite")
    assert main(["export-files", str(folder), "--out", str(tmp_path / "files"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"ganphon: error: {want}"
    assert not (tmp_path / "files").exists()
    with pytest.raises(GanphonError) as err:  # the chunks before it keep their parts (a resume starts there)
        analyse_store(folder, measures=("intensity",), workers=1, progress=False, buzz_rule=False)
    assert str(err.value) == want
    assert not list(folder.glob("**/c000001.parquet")) and not (folder / "acoustics.csv").exists()
    # a selection away from the damaged chunk is read as before; through the API, the array is read by rows
    assert main(["export-files", str(folder), "--samples", "0:4", "--out", str(tmp_path / "part"), "--quiet"]) == 0
    st = open_store(folder)
    assert np.asarray(st.series("conv3")[0:4]).shape[0] == 4
    with pytest.raises(GanphonError, match="chunk c/1/0"):
        np.asarray(st.series("conv3"))
    # one bit flipped inside the compressed data decodes to other numbers without an error from the codec: the
    # chunk's CRC-32C names it
    output = folder / "store.zarr" / "output" / "c" / "2" / "0"
    raw = bytearray(output.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    output.write_bytes(bytes(raw))
    with pytest.raises(GanphonError, match=r"store.zarr/output: chunk c/2/0 .*\(its bytes do not match their checksum\)"):
        st.series("output")[8:12]
    import google_crc32c  # zarr's own dependency, the reference CRC-32C
    stored = (folder / "store.zarr" / "output" / "c" / "0" / "0").read_bytes()
    assert google_crc32c.value(stored[:-4]) == int.from_bytes(stored[-4:], "little")


def test_overwrite_replaces_a_store_by_files_and_back(tiny_ciwgan, tmp_path):
    out = tmp_path / "run"
    common = ["probe", "--checkpoint", str(tiny_ciwgan), "--n", "2", "--quiet", "--out", str(out)]
    assert main([*common, "--store", "zarr"]) == 0
    assert main(common) == 2                                 # a different request: refused
    assert main([*common, "--overwrite"]) == 0
    assert not any(p.name.endswith((".zarr", ".parquet")) for p in out.iterdir())
    assert main([*common, "--store", "zarr", "--overwrite"]) == 0
    assert not any(p.suffix in (".wav", ".Sound", ".TextGrid", ".csv") for p in out.iterdir())


# ---------------------------------------------------------------- killed and resumed


CHILD = textwrap.dedent("""
    import sys, time
    from ganphon.models import Latent, load_checkpoint
    from ganphon.store import run_store
    model = load_checkpoint(sys.argv[1], qnetwork=False)
    z = Latent(model.config).sample(24, 5)
    run_store(model, z, sys.argv[2], batch_size=4, chunk=4, progress=False, request={"kind": "probe"},
              on_chunk=lambda c: time.sleep(0.4))
""")


def finished_chunks(folder, ids, chunk=4):
    lines = (Path(folder) / layout.FINISHED).read_text().split("\n")[1:-1]
    return {c for c in range(len(ids) // chunk) if set(ids[c * chunk:(c + 1) * chunk]) <= set(lines)}


def test_killed_store_run_resumes_only_missing_chunks(tiny_ciwgan, tmp_path):
    from ganphon.models import Latent, load_checkpoint
    from ganphon.store import open_store, run_store

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    z = Latent(model.config).sample(24, 5)
    ids = [layout.sample_id(i) for i in range(24)]
    whole = tmp_path / "whole"
    run_store(model, z, whole, batch_size=4, chunk=4, progress=False, request={"kind": "probe"})

    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_ciwgan), str(out)])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / layout.FINISHED).is_file() and len(finished_chunks(out, ids)) >= 2:
                break
            assert child.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    done = finished_chunks(out, ids)
    assert 2 <= len(done) < 6
    # a chunk cut in the middle of writing (a torn chunk file, no record) is computed again, whole
    torn = min(set(range(6)) - done)
    chunk_file = out / "store.zarr" / "output" / "c" / str(torn) / "0"
    chunk_file.parent.mkdir(parents=True, exist_ok=True)
    chunk_file.write_bytes(b"\x00torn")
    computed = []
    run_store(model, z, out, batch_size=4, chunk=4, progress=False, request={"kind": "probe"},
              on_chunk=computed.append)
    assert computed == sorted(set(range(6)) - done)
    a, b = open_store(whole), open_store(out)
    for layer in ["output", *a.layers]:
        assert np.array_equal(a.series(layer)[:], b.series(layer)[:]), layer
    assert b.finished() == set(ids)
    again = []
    run_store(model, z, out, batch_size=4, chunk=4, progress=False, request={"kind": "probe"}, on_chunk=again.append)
    assert again == []


# ---------------------------------------------------------------- Dask: same tables as the process pool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster_address():
    """A scheduler and 2 workers started as separate processes on the loopback interface."""
    need("distributed")
    dask_exe = Path(sys.executable).with_name("dask")
    if not dask_exe.exists():
        pytest.fail(f"{dask_exe}: the dask command of the scale extra is missing")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([str(dask_exe), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **quiet)]
    try:
        for k in range(2):
            # the first worker declares a GPU (it has none): where GPU generation would be sent
            resources = ["--resources", "GPU=1"] if k == 0 else []
            procs.append(subprocess.Popen([str(dask_exe), "worker", address, "--host", "127.0.0.1",
                                           "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                           "--death-timeout", "60", *resources], **quiet))
        distributed = need("distributed")
        with distributed.Client(address, timeout=60) as client:  # both workers in, before any test
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        stop_processes(procs)


@pytest.fixture(scope="module")
def generated(tiny_ciwgan, tmp_path_factory):
    """A 12-sample sweep generated into a store in 3 chunks (not yet annotated or measured)."""
    need("zarr")
    from ganphon.models import load_checkpoint
    from ganphon.store import run_store
    from ganphon.sweep import make_design

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    spec = {"kind": "dimension", "var": "z11", "from": -4, "to": 4, "step": 4, "bases": 4, "seed": 1}
    design = make_design(model.config, spec)
    out = tmp_path_factory.mktemp("gen") / "store"
    run_store(model, design.latents, out, sample_ids=design.sample_ids, conditions=design.conditions,
              columns=design.columns, seed=1, request={"kind": "sweep", "spec": spec}, chunk=4, progress=False)
    return out


def _analyse_and_fit(generated, folder, scheduler=None):
    from ganphon.stats import run_stats
    from ganphon.store_analysis import analyse_store

    shutil.copytree(generated, folder)
    # an untrained generator's output is its stack's buzz: the buzz rule would leave no 'voi' to model
    analyse_store(folder, measures=("intensity", "duration"), workers=2, progress=False, buzz_rule=False,
                  scheduler=scheduler)
    result = run_stats(folder, measures=("intensity",), outcome_layers=("conv4", "output"), workers=2,
                       scheduler=scheduler)
    stats = {name: (folder / "stats" / f"{name}.csv").read_bytes()
             for name in ("mixed_models", "lrt", "effects", "correlations") if (folder / "stats" / f"{name}.csv").is_file()}
    return (folder / "acoustics.csv").read_bytes(), stats, result


def test_dask_local_cluster_and_separate_workers_give_the_process_pool_tables(generated, tmp_path,
                                                                               dask_cluster_address):
    distributed = need("distributed")
    import ganphon.parallel_dask as parallel_dask
    from ganphon.parallel_dask import use_scheduler

    module_state = dict(vars(parallel_dask))
    # distributed's nanny sets OMP_NUM_THREADS=1 (and more) in the process that starts a LocalCluster, for its
    # workers, and leaves them: every process started afterwards, and torch loaded afterwards, ran one thread
    threads = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")
    environ = {name: os.environ.get(name) for name in threads}
    pool_table, pool_stats, pool_result = _analyse_and_fit(generated, tmp_path / "pool")
    assert pool_stats.keys() >= {"mixed_models", "lrt"} and len(pool_result.tables["lrt"]) > 0
    runs = {}
    for name, scheduler in (("LocalCluster", "local"), ("scheduler + 2 workers", dask_cluster_address)):
        with use_scheduler(scheduler, workers=2) as dask:
            client = dask.client
            assert len(client.scheduler_info()["workers"]) == 2
            with distributed.get_task_stream(client) as stream:
                runs[name] = _analyse_and_fit(generated, tmp_path / name.split()[0], scheduler=dask)
            # an open scheduler changes nothing global: the same call without it uses the process pool
            assert vars(parallel_dask).keys() == module_state.keys()
            assert {name: os.environ.get(name) for name in threads} == environ, name
            with distributed.get_task_stream(client) as idle:
                _analyse_and_fit(generated, tmp_path / (name.split()[0] + "-pool"))
            assert not idle.data
            # the chunks and the model fits ran as tasks on both workers
            assert len({task["worker"] for task in stream.data}) == 2
            assert sum(task["key"].startswith("run_batch") for task in stream.data) >= 3
    assert {name: os.environ.get(name) for name in threads} == environ
    for name, (table, stats, _) in runs.items():
        assert table == pool_table, name
        assert stats == pool_stats, name


def test_generation_on_dask_equals_generation_here(generated, tiny_ciwgan, tmp_path, dask_cluster_address):
    """A store's chunks generated as Dask tasks (LocalCluster; scheduler + 2 worker processes) hold the
    arrays generated in this process (which equal the file export's, above), and resume the same way."""
    distributed = need("distributed")
    from ganphon.models import load_checkpoint
    from ganphon.parallel_dask import use_scheduler
    from ganphon.store import open_store, run_store
    from ganphon.sweep import make_design

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    here = open_store(generated)
    design = make_design(model.config, here.request["spec"])
    for name, scheduler in (("local", "local"), ("cluster", dask_cluster_address)):
        out = tmp_path / name
        args = dict(sample_ids=design.sample_ids, conditions=design.conditions, columns=design.columns, seed=1,
                    request={"kind": "sweep", "spec": here.request["spec"]}, chunk=4, progress=False)
        with use_scheduler(scheduler, workers=2) as dask:
            with distributed.get_task_stream(dask.client) as stream:
                # a first run stopped after one chunk (on_chunk raises), then the same run completes it
                def stop(c):
                    raise KeyboardInterrupt

                with pytest.raises(KeyboardInterrupt):
                    run_store(model, design.latents, out, on_chunk=stop, scheduler=dask, **args)
                done_first = open_store(out).finished()
                result = run_store(model, design.latents, out, scheduler=dask, **args)
            workers = {task["worker"] for task in stream.data if task["key"].startswith("run_batch")}
        assert len(workers) == 2, name                      # the chunks were generated on both workers
        summary = result.attrs["summary"]
        assert 4 <= len(done_first) < 12 and summary["computed"] == 12 - len(done_first), name
        st = open_store(out)
        assert st.sample_ids == here.sample_ids and st.finished() == set(here.sample_ids)
        for layer in ("output", *here.layers):
            assert np.array_equal(st.series(layer)[:], here.series(layer)[:]), (name, layer)


def test_sweep_command_on_a_local_cluster_writes_the_file_sweeps_table(swept, tmp_path, capsys):
    need("distributed")
    files, _, _ = swept
    out = tmp_path / "dask"
    assert main(["sweep", "--checkpoint", swept_checkpoint(files), *SWEEP, "--store", "zarr", "--scheduler", "local",
                 "--workers", "2", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # one 9-sample chunk, generated as a Dask task (the in-process route names no workers)
    assert "1/1 chunks" in printed and "on 1 worker(s)" in printed.split("probe:")[1].splitlines()[0]
    assert (out / "acoustics.csv").read_bytes() == (files / "acoustics.csv").read_bytes()


def test_gpu_generation_goes_to_the_workers_that_declare_a_gpu(dask_cluster_address, tiny_ciwgan, tmp_path):
    need("distributed")
    from ganphon.parallel import map_jobs
    from ganphon.parallel_dask import GPU_RESOURCE, use_scheduler
    from ganphon.store import _generation_resources

    def where(item):  # pickled by value: the workers cannot import this test module
        from ganphon.parallel_dask import worker_name

        return item, worker_name()

    assert _generation_resources("cuda") is False               # no scheduler: generation stays here
    with use_scheduler("local", workers=1) as dask:
        assert _generation_resources("cuda", dask) is False   # the local cluster's GPU is this process's
        assert _generation_resources("cpu", dask) == {}
    with use_scheduler(dask_cluster_address) as dask:
        gpu_workers = dask.workers_with(GPU_RESOURCE)
        assert len(gpu_workers) == 1 and len(dask.client.scheduler_info()["workers"]) == 2
        resources = _generation_resources("cuda:0", dask)
        assert resources == {"GPU": 1} and _generation_resources(None, dask) == {}
        results = map_jobs(where, range(8), progress=False, max_chunk=1, resources=resources, scheduler=dask)
        assert [r[0] for r in results] == list(range(8))
        assert {r[1] for r in results} == set(gpu_workers)
        with pytest.raises(GanphonError, match="no Dask worker declares the resource 'TPU'"):
            map_jobs(where, range(2), progress=False, resources={"TPU": 1}, scheduler=dask)
        # a store asked for on CUDA: this machine's lack of a GPU is no reason to refuse, the chunks go to
        # the worker that declares one (which has none here, and says so)
        from ganphon.models import load_checkpoint
        from ganphon.store import run_store

        model = load_checkpoint(tiny_ciwgan, qnetwork=False)
        z = torch.zeros(2, model.config.latent_dim)
        if not torch.cuda.is_available():
            with pytest.raises(GanphonError, match="CUDA is not available here"):
                run_store(model, z, tmp_path / "cuda", device="cuda", progress=False, scheduler=dask)
    if not torch.cuda.is_available():
        with pytest.raises(GanphonError, match="CUDA is not available here"):  # generated here: refused at once
            run_store(model, z, tmp_path / "here", device="cuda", progress=False)
        assert not (tmp_path / "here").exists()


def test_probe_needs_the_store_for_dask(tiny_ciwgan, tmp_path, capsys):
    need("distributed")
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "2", "--out", str(tmp_path / "p"),
                 "--scheduler", "local", "--quiet"]) == 2
    assert "--scheduler: probe generates on Dask only into a store" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_scheduler_errors_are_one_line():
    need("distributed")
    from ganphon.parallel_dask import use_scheduler

    with pytest.raises(GanphonError, match="not 'local' or a scheduler address"):
        with use_scheduler("nonsense"):
            pass
    with pytest.raises(GanphonError, match="cannot reach the Dask scheduler"):
        with use_scheduler(f"tcp://127.0.0.1:{_free_port()}", timeout=2):
            pass


def test_the_store_and_the_pipeline_sit_below_the_analysis():
    """store.py and pipeline.py import nothing that annotates or measures (imports inside functions count)."""
    import ast
    from pathlib import Path

    import ganphon

    root = Path(ganphon.__file__).parent
    above = {"acoustics", "annotate", "praat", "measures", "store_analysis", "sweep", "stats", "report", "atlas"}
    for name in ("store.py", "pipeline.py", "export.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                modules |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                modules |= {a.name.split(".")[1] for a in node.names if a.name.startswith("ganphon.")}
        assert not modules & above, (name, sorted(modules & above))
