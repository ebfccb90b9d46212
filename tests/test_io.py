"""ganphon.io against independent readers and writers: scipy, raw bytes, parselmouth, Praat, tgt."""

import struct
import subprocess

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile
import tgt

from conftest import require_praat
from ganphon import io, layout
from ganphon.errors import GanphonError, first_line, size_text


def _raw_pcm16(path, samples, sr):
    """A 16-bit mono WAV written byte by byte (no library)."""
    data = struct.pack(f"<{len(samples)}h", *samples)
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16) + b"data" + struct.pack("<I", len(data)))
    path.write_bytes(header + data)


def test_int16_from_raw_bytes_scaled_by_32768(tmp_path):
    _raw_pcm16(tmp_path / "a.wav", [0, 16384, -32768, 32767], 8000)
    x, sr = io.read_wav(tmp_path / "a.wav")
    assert sr == 8000 and x.dtype == np.float32
    assert x.tolist() == [0.0, 0.5, -1.0, np.float32(32767 / 32768)]


@pytest.mark.parametrize("dtype,values,expected", [
    (np.uint8, [0, 128, 255], [-1.0, 0.0, 127 / 128]),
    (np.int32, [-2**31, 2**30, 0], [-1.0, 0.5, 0.0]),
    (np.float64, [0.25, -0.75, 1.5], [0.25, -0.75, 1.5]),   # float kept unclipped
    (np.float32, [0.1, -0.2, 0.3], list(np.float32([0.1, -0.2, 0.3]))),
])
def test_pcm_and_float_in_float32_out(tmp_path, dtype, values, expected):
    scipy.io.wavfile.write(tmp_path / "x.wav", 22050, np.array(values, dtype=dtype))
    x, sr = io.read_wav(tmp_path / "x.wav")
    assert sr == 22050 and x.dtype == np.float32
    assert np.array_equal(x, np.float32(expected))


def test_stereo_kept_or_averaged(tmp_path):
    scipy.io.wavfile.write(tmp_path / "s.wav", 16000, np.array([[0.5, 0.1], [-0.5, 0.3]], dtype=np.float32))
    x, _ = io.read_wav(tmp_path / "s.wav")
    assert x.shape == (2, 2)
    m, _ = io.read_wav(tmp_path / "s.wav", mono=True)
    assert np.allclose(m, [0.3, -0.1])


def test_write_wav_read_by_scipy_bit_exact(tmp_path):
    y = np.random.default_rng(0).normal(0, 3, 1000).astype(np.float32)  # beyond ±1: not clipped
    io.write_wav(tmp_path / "w.wav", y, 16000)
    sr, back = scipy.io.wavfile.read(tmp_path / "w.wav")
    assert sr == 16000 and back.dtype == np.float32 and np.array_equal(back, y)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("shape", [(0,), (1,), (16384,), (7, 2)])
@pytest.mark.parametrize("sr", [16000, 44100, 62])
def test_write_wav_gives_scipys_bytes(tmp_path, shape, sr):
    """ganphon writes the WAV itself: the very bytes scipy.io.wavfile writes for float32 (mono, stereo, empty)."""
    y = np.random.default_rng(sr).normal(0, 2, shape).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "scipy.wav", sr, y)
    io.write_wav(tmp_path / "ganphon.wav", y, sr)
    assert (tmp_path / "ganphon.wav").read_bytes() == (tmp_path / "scipy.wav").read_bytes()


@pytest.mark.parametrize("rate", [16000.0, 4096.0, 62.5, 15.625, 1000 / 3, 16000 / 7])
@pytest.mark.parametrize("n", [0, 1, 17, 4096])
def test_binary_sound_gives_praats_bytes(tmp_path, rate, n):
    """The binary Sound ganphon writes itself is the file Praat saves (``Save as binary file``), byte for byte,
    mono and two channels, with −0, NaN and ±∞ among the samples."""
    x = np.random.default_rng(n).normal(size=n)
    x[:4] = [-0.0, np.nan, np.inf, -np.inf][:n]
    for values in (x, np.stack([x, 2 * x])):
        parselmouth.Sound(values, sampling_frequency=rate).save_as_binary_file(str(tmp_path / "praat.Sound"))
        io.write_sound(tmp_path / "ganphon.Sound", values, rate)
        assert (tmp_path / "ganphon.Sound").read_bytes() == (tmp_path / "praat.Sound").read_bytes()


@pytest.mark.parametrize("cut", [10, 60])
def test_truncated_wav_is_one_line_naming_the_file(tmp_path, cut):
    scipy.io.wavfile.write(tmp_path / "t.wav", 16000, np.zeros(100, dtype=np.int16))
    raw = (tmp_path / "t.wav").read_bytes()
    (tmp_path / "t.wav").write_bytes(raw[:cut])
    with pytest.raises(GanphonError) as err:
        io.read_wav(tmp_path / "t.wav")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 't.wav'}: ") and "\n" not in msg


def test_missing_and_nan_wav(tmp_path):
    with pytest.raises(GanphonError, match="no such WAV"):
        io.read_wav(tmp_path / "none.wav")
    scipy.io.wavfile.write(tmp_path / "n.wav", 16000, np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(GanphonError, match="n.wav: WAV holds NaN"):
        io.read_wav(tmp_path / "n.wav")


@pytest.mark.parametrize("fmt, what", [("FLAC", "a FLAC file"), ("AIFF", "an AIFF file"),
                                       ("binary", "a Praat binary file"), ("text", "a Praat text file")])
def test_audio_that_is_not_a_wav_is_named_by_what_it_is(tmp_path, fmt, what):
    """Recordings saved as FLAC or AIFF (by Praat itself here), or a Praat Sound, under a .wav name: scipy's
    "File format b'fLaC' not understood. Only 'RIFF', 'RIFX', and 'RF64' supported." is now what the file is and
    how to convert it; an empty file and another file say so."""
    sound = parselmouth.Sound(np.sin(np.arange(1600) / 10.0)[None, :] * 0.3, 16000)
    path = str(tmp_path / "rec.wav")
    if fmt in ("FLAC", "AIFF"):
        sound.save(path, getattr(parselmouth.SoundFileFormat, fmt))
    else:
        parselmouth.praat.call(sound, f"Save as {fmt} file", path)
    with pytest.raises(GanphonError) as err:
        io.read_wav(path)
    assert str(err.value) == (f"{path}: cannot read WAV ({what}, not a WAV: convert it, e.g. with Praat's Read "
                              "from file… and Save as WAV file…)")
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(GanphonError, match=r"e\.wav: cannot read WAV \(the file is empty\)$"):
        io.read_wav(tmp_path / "e.wav")
    (tmp_path / "h.wav").write_text("hello")
    with pytest.raises(GanphonError, match=r"h\.wav: cannot read WAV \(not a WAV file: it begins with b'hell', a WAV "
                                           r"with b'RIFF'\)$"):
        io.read_wav(tmp_path / "h.wav")


def test_sound_keeps_a_non_integer_rate_praat_and_parselmouth_agree(tmp_path):
    x = np.sin(np.arange(64) / 5.0)
    io.write_sound(tmp_path / "a.Sound", x, 62.5)
    snd = parselmouth.read(str(tmp_path / "a.Sound"))
    assert snd.sampling_frequency == 62.5 and snd.x1 == pytest.approx(0.008, abs=1e-15)
    assert np.array_equal(snd.values[0], x)
    assert np.array_equal(io.read_sound(tmp_path / "a.Sound").values[0], x)
    praat = require_praat()
    script = tmp_path / "q.praat"
    script.write_text('form f\n  sentence p\nendform\ns = Read from file: p$\n'
                      'f = Get sampling frequency\nv = Get value at sample number: 1, 64\n'
                      'writeInfoLine: fixed$(f, 6), " ", fixed$(v, 12)\n')
    out = subprocess.run([praat, "--run", str(script), str(tmp_path / "a.Sound")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rate, last = out.stdout.split()
    assert rate == "62.500000" and float(last) == pytest.approx(x[-1], abs=1e-12)


LONG_BODY = ['xmin = 0', 'xmax = 1', 'tiers? <exists>', 'size = 1', 'item []:', '    item [1]:',
             '        class = "IntervalTier"', '        name = "words"', '        xmin = 0', '        xmax = 1',
             '        intervals: size = 3', '        intervals [1]:', '            xmin = 0', '            xmax = 0.25',
             '            text = ""', '        intervals [2]:', '            xmin = 0.25', '            xmax = 0.5',
             '            text = "ʃa"', '        intervals [3]:', '            xmin = 0.5', '            xmax = 1',
             '            text = ""']
SHORT_BODY = ['0', '1', '<exists>', '1', '"IntervalTier"', '"words"', '0', '1', '3',
              '0', '0.25', '""', '0.25', '0.5', '"ʃa"', '0.5', '1', '""']


@pytest.mark.parametrize("body", [LONG_BODY, SHORT_BODY], ids=["long", "short"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le-bom", "utf-16-be-bom"])
def test_textgrid_every_format_and_encoding(tmp_path, body, encoding):
    text = "\n".join(['File type = "ooTextFile"', 'Object class = "TextGrid"', ""] + body) + "\n"
    if encoding.startswith("utf-16"):
        order = "le" if "-le-" in encoding else "be"
        raw = (b"\xff\xfe" if order == "le" else b"\xfe\xff") + text.encode(f"utf-16-{order}")
    else:
        raw = text.encode(encoding)
    (tmp_path / "g.TextGrid").write_bytes(raw)
    grid = io.read_textgrid(tmp_path / "g.TextGrid")
    assert isinstance(grid, tgt.TextGrid)
    assert io.interval_tier(grid, "words") == [(0.0, 0.25, ""), (0.25, 0.5, "ʃa"), (0.5, 1.0, "")]
    assert io.interval_tier(grid, "words", labelled=True) == [(0.25, 0.5, "ʃa")]


def test_textgrid_written_long_utf8_read_by_tgt_and_praat(tmp_path):
    grid = io.textgrid_from_intervals({"auto": [(0.1, 0.4, "fric"), (0.4, 0.9, "voi")]}, 1.024)
    io.write_textgrid(tmp_path / "w.TextGrid", grid)
    raw = (tmp_path / "w.TextGrid").read_bytes()
    assert raw.startswith(b'File type = "ooTextFile"\nObject class = "TextGrid"')
    back = tgt.io.read_textgrid(str(tmp_path / "w.TextGrid"), include_empty_intervals=True)
    assert [(i.start_time, i.end_time, i.text) for i in back.get_tier_by_name("auto").intervals] == [
        (0.0, 0.1, ""), (0.1, 0.4, "fric"), (0.4, 0.9, "voi"), (0.9, 1.024, "")]
    ptg = parselmouth.read(str(tmp_path / "w.TextGrid"))
    assert ptg.xmax == 1.024


def test_a_manifest_whose_sweep_value_differs_from_its_variables_cell_is_refused(tmp_path):
    """A sweep writes ``value`` and the varied variable's cell (``z11`` of a ``var`` z11 row, ``c2`` of a code
    sweep) from one number: one of them edited is refused, naming the row; rows of a random probe (``var``
    random, no such column) and consistent ones are read."""
    header = "sample_id,layer,file,var,value,base,z11,c2\n"
    rows = ["b000_v000,output,b000_v000_output.wav,z11,-0.3,0,-0.3,\n",
            "b000_v001,output,b000_v001_output.wav,z11,0.1,0,0.1,\n",
            "b001_v000,output,b001_v000_output.wav,c2,0.25,1,,0.25\n",
            "r000,output,r000_output.wav,random,,2,,\n"]
    (tmp_path / "manifest.csv").write_text(header + "".join(rows), encoding="utf-8")
    assert len(io.read_manifest(tmp_path)) == 4
    for row, edited in ((1, rows[1].replace(",0.1,0,0.1,", ",0.1,0,4,")), (2, rows[2].replace(",0.25\n", ",1\n"))):
        (tmp_path / "manifest.csv").write_text(header + "".join(rows[:row] + [edited] + rows[row + 1:]),
                                               encoding="utf-8")
        var = "z11" if row == 1 else "c2"
        with pytest.raises(GanphonError, match=rf"manifest\.csv: row {row + 2} varies {var} to value .* but its {var} "
                                               r"cell is .* \(an edited manifest\?\); export the folder again"):
            io.read_manifest(tmp_path)


def test_textgrid_text_is_tgts_long_format_character_for_character():
    """ganphon's long-format writer against tgt's own (``export_to_long_textgrid``) on 400 random grids:
    gaps at either end and between intervals (some under tgt's 0.1 ms tolerance), tiers not spanning the
    grid, empty tiers, point tiers, quotes and line breaks in labels and names, numpy floats."""
    import random

    rng = random.Random(5)
    for _ in range(400):
        end = rng.choice([1.024, 2.0, 0.5, 3.7])
        first = rng.choice([0.0, 0.0, 0.1])
        grid = tgt.TextGrid()
        for k in range(rng.randint(1, 3)):
            if rng.random() < 0.75:
                tier = tgt.IntervalTier(start_time=rng.choice([first, 0.2]), end_time=rng.choice([end, end - 0.1]),
                                        name=rng.choice(["auto", 'q"uote', "phones ü", ""]) + str(k))
                t = rng.choice([first, first + 0.05, first + 0.00003])
                while t < end - 0.01 and rng.random() < 0.9:
                    stop = min(end, t + rng.choice([0.01, 0.1, 0.2, 0.00005, 0.3]))
                    if rng.random() < 0.8:
                        start = np.float64(t) if rng.random() < 0.3 else t
                        tier.add_interval(tgt.Interval(start, stop, rng.choice(["voi", "", 'a"b', "fric", "x\ny"])))
                    t = stop + rng.choice([0, 0, 0.00002, 0.03])
            else:
                tier = tgt.PointTier(start_time=0, end_time=end, name=f"p{k}")
                for x in sorted(rng.sample(range(1, 100), rng.randint(0, 4))):
                    tier.add_point(tgt.Point(x / 100 * end, rng.choice(["", "m", '"'])))
            grid.add_tier(tier)
        assert io.textgrid_text(grid) == tgt.io.export_to_long_textgrid(grid)


def test_textgrid_errors_name_the_file(tmp_path):
    (tmp_path / "bad.TextGrid").write_text("not a textgrid\n")
    with pytest.raises(GanphonError, match=r"bad\.TextGrid: cannot read TextGrid") as err:
        io.read_textgrid(tmp_path / "bad.TextGrid")
    assert "\n" not in str(err.value)
    grid = io.textgrid_from_intervals({"a": []}, 1.0)
    grid.add_tier(tgt.PointTier(0, 1, "p"))
    with pytest.raises(GanphonError, match="no tier 'b' .tiers: a, p"):
        io.interval_tier(grid, "b")
    with pytest.raises(GanphonError, match="point tier"):
        io.interval_tier(grid, "p")


def _middle_of(column) -> int:
    """The byte in the middle of a Parquet column chunk's pages (its dictionary page first, when it has one)."""
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    return start + column.total_compressed_size // 2


def test_a_parquet_table_with_a_changed_byte_is_named_not_read(tmp_path):
    """A byte changed inside a zstd Parquet page (a bit flip on a disk, a copy that went wrong) read back as
    other numbers without any error (37 of 40 random flips in a measured sweep's acoustics.parquet); the one
    writer stores each page's CRC-32 and the one reader verifies it."""
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"file": [f"s{i:06d}_output.wav" for i in range(20000)], "value": rng.normal(size=20000)})
    path = tmp_path / "acoustics.parquet"
    io.write_table(table, path)
    pd.testing.assert_frame_equal(io.read_table(path), table)
    column = pq.ParquetFile(path).metadata.row_group(0).column(1)  # 'value': its pages' bytes
    assert column.path_in_schema == "value"
    raw = bytearray(path.read_bytes())
    raw[_middle_of(column)] ^= 0x04
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(GanphonError, match=r"damaged.parquet: a damaged table: its bytes do not match their "
                                           r"checksum \(.*CRC.*\); write it again$"):
        io.read_table(damaged)
    # without the checksums (pandas' own writer), the same change reads back as other numbers: what it guards
    plain = tmp_path / "plain.parquet"
    table.to_parquet(plain, index=False, compression="zstd", engine="pyarrow")
    column = pq.ParquetFile(plain).metadata.row_group(0).column(1)
    raw = bytearray(plain.read_bytes())
    raw[_middle_of(column)] ^= 0x04
    plain.write_bytes(bytes(raw))
    try:
        read = io.read_table(plain)  # a file written without page checksums is read as it is
    except GanphonError:
        read = None
    assert read is None or not read.equals(table)


def test_read_text_boms(tmp_path):
    for enc, bom in (("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf"), ("utf-8", b"")):
        (tmp_path / "t.txt").write_bytes(bom + "a\tɑ\n".encode(enc))
        assert io.read_text(tmp_path / "t.txt") == "a\tɑ\n"
        # a run record saved again by an editor: the same record (a BOM had made it "unreadable")
        (tmp_path / "run.json").write_bytes(bom + '{"kind": "probe", "request": {"n": 3, "name": "ɑ"}}'.encode(enc))
        assert io.read_json(tmp_path / "run.json") == {"kind": "probe", "request": {"n": 3, "name": "ɑ"}}
        # a folder an earlier release wrote (no ledger) is known by its run.json, however saved
        old = tmp_path / f"old_{enc}_{len(bom)}"
        old.mkdir()
        (old / "run.json").write_bytes(bom + '{"request": {"kind": "probe"}}'.encode(enc))
        assert layout.folder_kind_of(old) == ("export", "run.json of a probe run")


def test_manifest_dtypes_and_errors(tmp_path):
    (tmp_path / "manifest.csv").write_text("sample_id,layer,file,code,value\n000123,output,x.wav,1,2.5\n"
                                           "000124,conv1,y.wav,,3\n")
    m = io.read_manifest(tmp_path)
    assert m["sample_id"].tolist() == ["000123", "000124"] and m["code"].iloc[0] == "1"
    assert m["value"].dtype == float and not isinstance(m["code"].iloc[1], str)  # empty cell: missing
    with pytest.raises(GanphonError, match="lacks column.*sound_file"):
        io.read_manifest(tmp_path / "manifest.csv", required=("sound_file",))
    with pytest.raises(GanphonError, match="no manifest"):
        io.read_manifest(tmp_path / "nothing")


@pytest.mark.parametrize("cut", [20, 21, 45, 55])
def test_a_manifest_cut_short_is_refused_before_any_cell_is_used(tmp_path, cut):
    """Cut anywhere but after a whole row (here: after its header, inside the first row, inside the last),
    a manifest names no sample whole (after its header line: none at all): one line naming the file."""
    text = "sample_id,layer,file\n000123,output,x.wav\n000124,conv1,y.wav\n"
    (tmp_path / "manifest.csv").write_text(text[:cut])
    want = "manifest lists no file" if text[:cut].endswith("\n") else "ends in the middle of a row"
    with pytest.raises(GanphonError, match=f"manifest.csv: {want}"):
        io.read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(text)  # whole again: read
    assert io.read_manifest(tmp_path)["sample_id"].tolist() == ["000123", "000124"]


@pytest.mark.parametrize("enc, bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                      ("utf-16-be", b"\xfe\xff")])
def test_a_table_saved_with_a_byte_order_mark_reads_as_without_it(tmp_path, enc, bom):
    """A spreadsheet's "CSV UTF-8" starts with a BOM, Praat's non-ASCII tables are UTF-16: the BOM had become
    part of the first column's name ('\\ufeffsample_id': "lacks column sample_id"); cut short, still refused."""
    text = "sample_id,layer,file,value\n000123,output,x.wav,1.5\n000124,conv1,y.wav,\n"
    (tmp_path / "manifest.csv").write_text(text)
    plain = io.read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_bytes(bom + text.encode(enc))
    pd.testing.assert_frame_equal(io.read_manifest(tmp_path), plain)
    (tmp_path / "manifest.csv").write_bytes(bom + text[:-3].encode(enc))
    with pytest.raises(GanphonError, match="manifest.csv: ends in the middle of a row"):
        io.read_manifest(tmp_path)


@pytest.mark.parametrize("rows, want", [
    ("s1,output,s1_output.wav,\ns2,output,s2_output.wav,\ns1,output,s1_output.wav,\n",
     "rows 2 and 4 both list file 's1_output.wav'"),
    ("s1,output,s1_output.wav,\ns1,output,s1_out.wav,\n", "rows 2 and 3 both list sample_id 's1' layer 'output'"),
    ("s1,conv1,s1_conv1.wav,s1_conv1.Sound\ns2,conv1,s2_conv1.wav,s1_conv1.Sound\n",
     "rows 2 and 3 both list sound_file 's1_conv1.Sound'")])
def test_a_manifest_listing_a_file_or_a_sample_layer_twice_is_refused_by_every_reader(tmp_path, capsys, rows, want):
    """Two manifests pasted together: measure refused them, annotate segmented the file twice in two workers at
    once, plot and explore showed the sample twice.  The one manifest reader refuses them for all."""
    from ganphon.cli import main

    (tmp_path / "manifest.csv").write_text("sample_id,layer,file,sound_file\n" + rows)
    with pytest.raises(GanphonError, match=f"manifest.csv: {want} \\(two manifests pasted together"):
        io.read_manifest(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("annotate", "measure", "plot"):
        capsys.readouterr()
        assert main([command, str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and want in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    (tmp_path / "manifest.csv").write_text("sample_id,layer,file,sound_file\ns1,output,s1_output.wav,\n"
                                           "s2,output,s2_output.wav,\n")  # empty cells are no file: read
    assert io.read_manifest(tmp_path)["sample_id"].tolist() == ["s1", "s2"]


def test_a_latents_file_listing_a_sample_twice_is_refused(tmp_path, capsys):
    """Two latents files pasted together: a line sweep's endpoint ``a = "s1"`` took whichever row came first,
    and the latent discovery joined each sample's outcomes to both rows."""
    from ganphon.cli import main
    from ganphon.models import ModelConfig, new_model, save_checkpoint

    cfg = ModelConfig(arch="wavegan", dim=8)
    save_checkpoint(tmp_path / "m.pt", cfg, *new_model(cfg, seed=0), meta={"seed": 0})
    names = [f"z{i}" for i in range(1, cfg.latent_dim + 1)]
    rows = np.arange(3 * len(names), dtype=float).reshape(3, -1) / 100
    table = pd.DataFrame(rows, columns=names).assign(sample_id=["s1", "s2", "s1"])[["sample_id", *names]]
    table.to_csv(tmp_path / "latents.csv", index=False)
    with pytest.raises(GanphonError, match="latents.csv: rows 2 and 4 both list sample_id 's1' \\(two latents files"):
        io.read_latents(tmp_path)
    (tmp_path / "line.toml").write_text('kind = "line"\na = "s1"\nb = "s2"\nlatents = "latents.csv"\nsteps = 3\n')
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "line.toml"), "--checkpoint", str(tmp_path / "m.pt"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both list sample_id 's1'" in err, err
    assert not (tmp_path / "out").exists()
    table.iloc[:2].to_csv(tmp_path / "latents.csv", index=False)  # each sample once: read as written
    np.testing.assert_array_equal(io.read_latents(tmp_path)[names].to_numpy(), rows[:2])


@pytest.mark.parametrize("sep, name", [(";", "semicolons"), ("\t", "tabs")])
def test_a_table_saved_with_semicolons_or_tabs_is_named_so_not_as_missing_columns(tmp_path, capsys, sep, name):
    """A spreadsheet set to German or French saves "CSV" with semicolons and decimal commas: read with commas it
    was one column, and the error said the manifest lacked sample_id, layer and file."""
    table = pd.DataFrame({"sample_id": ["000123", "000124"], "layer": ["output", "conv1"], "file": ["x.wav", "y.wav"],
                          "value": [1.5, -2.25]})
    path = tmp_path / "manifest.csv"
    table.to_csv(path, sep=sep, decimal=",", index=False, encoding="utf-8-sig")
    want = f"manifest.csv: the manifest's cells are separated by {name}, not commas"
    with pytest.raises(GanphonError, match=want):
        io.read_manifest(tmp_path)
    with pytest.raises(GanphonError, match=want.replace("manifest's", "table's")):
        io.read_table(path)
    from ganphon.cli import main

    capsys.readouterr()
    code, err = main(["measure", str(tmp_path), "--quiet"]), capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and want in err, err
    table.to_csv(path, index=False)  # saved with commas: read, and a cell holding ';' or a tab is no separator
    pd.testing.assert_frame_equal(io.read_manifest(tmp_path)[table.columns], table)
    notes = pd.DataFrame({"file": ["a.wav"], "note": ["short; unvoiced\tx"]})
    notes.to_csv(tmp_path / "notes.csv", index=False)
    pd.testing.assert_frame_equal(io.read_table(tmp_path / "notes.csv"), notes)


@pytest.mark.parametrize("column, cell, want", [
    ("value", "abc", "value 'abc'; it must be a finite number or empty"),
    ("value", "inf", "value 'inf'; it must be a finite number or empty"),
    ("z11", "1,5", None),  # a decimal comma: a row longer than the header (pandas would shift every cell)
    ("z11", "x", "z11 'x'; it must be a finite number or empty"),
    ("base", "-1", "base '-1'; it must be a whole number ≥ 0"),
    ("base", "0.5", "base '0.5'; it must be a whole number ≥ 0"),
    ("seed", "one", "seed 'one'; it must be a whole number ≥ 0"),
    ("n_native", "0", "n_native '0'; it must be a positive whole number (a cut"),
    ("n_native", "16.5", "n_native '16.5'; it must be a positive whole number (a cut"),
    ("n_native", "", "no n_native; it must be a positive whole number (a cut"),
    ("rate_native_hz", "x", "rate_native_hz 'x'; it must be a positive number or empty"),
    # a value typed with a minus sign copied from a paper (U+2212): said so, in place of the guess
    ("value", "\u221215", "value '\u221215'; it must be a finite number or empty ('\u2212' is a minus sign, U+2212, "
                          "not '-': type -)")])
def test_a_manifest_number_cell_that_is_no_number_is_named(tmp_path, column, cell, want):
    """The columns describing a file's samples (``n_native``, ``rate_native_hz`` …) and those placing a sample
    in its design (``value``, ``base``, ``seed``, the latents' ``z…``) are numbers — the design's and the rate
    may be empty: an edited cell is refused with its row, never read as empty (stats would have fitted the
    sweep without that sample, and said nothing)."""
    header = "sample_id,layer,file,var,value,base,seed,z11,n_native,rate_native_hz"
    rows = {"value": "-15.0", "base": "0", "seed": "1", "z11": "-15.0", "n_native": "16", "rate_native_hz": "15.625"}
    good = f"{header}\n" + "b000_v000,output,a.wav,z11," + ",".join(rows.values()) + "\n"
    (tmp_path / "manifest.csv").write_text(good + "b000_v001,output,b.wav,z11,,,,,16,\n")  # empty cells: NaN
    m = io.read_manifest(tmp_path)
    assert m["value"].iloc[0] == -15.0 and m[["value", "base", "seed", "z11", "rate_native_hz"]].iloc[1].isna().all()
    bad = dict(rows, **{column: cell})
    (tmp_path / "manifest.csv").write_text(f"{header}\nb000_v000,output,a.wav,z11," + ",".join(bad.values()) + "\n")
    with pytest.raises(GanphonError) as err:
        io.read_manifest(tmp_path)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "manifest.csv")) and "\n" not in message
    if want is not None:
        assert f"row 2 has {want}" in message
    else:
        assert "a row has more cells than the header line's 10" in message


def test_write_table_round_trips_floats_and_is_atomic(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"a": [0.1, 1 / 3, 1e-300], "s": ["x", "y", "z"]})
    io.write_table(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["a"].tolist() == df["a"].tolist()

    class Boom(Exception):
        pass

    class Bad(pd.DataFrame):
        def to_csv(self, path, **kw):
            open(path, "w").write("half")
            raise Boom()

    with pytest.raises(Boom):
        io.write_table(Bad({"a": [1]}), tmp_path / "t.csv")
    assert pd.read_csv(tmp_path / "t.csv")["a"].tolist() == df["a"].tolist()  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_finished_record_ignores_a_cut_line_and_another_request(tmp_path):
    req = {"kind": "probe", "n": 3}
    with io.FinishedLog(tmp_path, req) as log:
        log.add("s000000")
    with open(tmp_path / "finished.txt", "a") as fh:
        fh.write("s0000")  # killed mid-line
    assert io.read_finished(tmp_path, req) == {"s000000"}
    with io.FinishedLog(tmp_path, req) as log:
        log.add("s000001")
    assert io.read_finished(tmp_path, req) == {"s000000", "s000001"}
    assert io.read_finished(tmp_path, {"kind": "probe", "n": 4}) == set()


def test_first_line():
    assert first_line(ValueError("bad thing\n  at line 3\n")) == "bad thing"
    assert first_line("\n\n  a \n b\n c", 2) == "a / b"
    assert first_line(KeyError()) == "KeyError"


def test_sizes_in_messages_are_in_the_unit_that_shows_them():
    assert [size_text(n) for n in (0, 900, 1023, 3 * 2**20 + 2**19, 2**30 - 1, 5 * 2**30, float("inf"))] == [
        "0 bytes", "900 bytes", "1.0 KiB", "3.5 MiB", "1.0 GiB", "5.0 GiB", "unlimited"]


@pytest.mark.parametrize("edit, said", [
    (1e300, "= 1e+300 Hz, above the sound's Nyquist (8000 Hz): not a measurement"),
    (-5.0, "= -5 Hz, below 0: not a measurement"),
])
def test_an_acoustic_value_no_measurement_gives_is_named(tmp_path, capsys, edit, said):
    """An edited table's F0 of 1e300 Hz had gone into the models ("overflow encountered in square", the model
    missing); a frequency outside 0 … the Nyquist of the sound (16 kHz output: 8 kHz) is now named with the
    file and interval it belongs to, by every reader (stats here); the Nyquist itself is a value (an infinity
    stays undefined: tests/test_stats.py)."""
    from ganphon.cli import main

    folder = tmp_path / "p"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(folder), "--quiet"]) == 0
    assert main(["measure", str(folder), "--tier", "", "--measures", "pitch", "--quiet"]) == 0
    path = folder / "acoustics.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = table.index[(table["measure"] == "f0_mean") & (table["file"] == "s000001_output.wav")][0]
    table.loc[row, "value"] = repr(8000.0)  # the Nyquist itself: read as it is
    table.to_csv(path, index=False)
    assert io.read_acoustics(folder).loc[row, "value"] == 8000.0
    table.loc[row, "value"] = repr(edit)
    table.to_csv(path, index=False)
    capsys.readouterr()
    assert main(["stats", str(folder), "--allow-stale", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (f"ganphon: error: {path}: f0_mean of s000001_output.wav (0–1.024 s) "
                                                f"{said}; is the table edited or damaged?")
    # a Parquet table of its own columns (the manifest joined as it is read, stats' measures only): an F0 point
    # of that file edited, named the same way
    parquet = folder / "acoustics.parquet"
    table = pd.read_csv(path)[list(io.ACOUSTIC_COLUMNS)]
    table.loc[row, "value"] = 100.0
    point = table.index[(table["measure"] == "f0") & (table["file"] == "s000001_output.wav")][0]
    table.loc[point, "value"] = edit
    io.write_table(table, parquet)
    path.unlink()
    assert main(["stats", str(folder), "--allow-stale", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (f"ganphon: error: {parquet}: f0 of s000001_output.wav "
                                                f"(0–1.024 s) {said}; is the table edited or damaged?")


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_something_else_at_the_parquet_tables_name_is_named_not_taken_for_a_missing_table(tmp_path, kind):
    """A folder or a dangling link named ``acoustics.parquet``, with a readable ``acoustics.csv`` beside it:
    every reader of the folder's table (``io.read_acoustics``, ``stats``' completeness check, the explorer's
    rows) refuses naming the Parquet path and what stands there; none reads the CSV instead, none says
    "no acoustic table"."""
    from ganphon.report.explore import _acoustic_rows

    pd.DataFrame({"file": ["a.wav"], "measure": ["f0"], "value": [100.0]}).to_csv(tmp_path / layout.ACOUSTICS,
                                                                                 index=False)
    parquet = tmp_path / layout.ACOUSTICS_PARQUET
    if kind == "folder":
        parquet.mkdir()
        said = f"{parquet}: a folder, not an acoustic table file"
    else:
        parquet.symlink_to(tmp_path / "gone" / "t.parquet")
        said = f"{parquet}: a link to {tmp_path / 'gone' / 't.parquet'}, which does not exist; remove the link or " \
            "restore what it points to"
    assert io.acoustics_path(tmp_path) == parquet
    for read in (lambda: io.read_acoustics(tmp_path), lambda: io.read_acoustics(parquet),
                 lambda: _acoustic_rows(tmp_path)):
        with pytest.raises(GanphonError) as caught:
            read()
        assert str(caught.value) == said
    assert io.acoustics_path(tmp_path / "elsewhere") == tmp_path / "elsewhere" / layout.ACOUSTICS  # nothing there
