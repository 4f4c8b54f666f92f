"""Downloads against a local HTTP server: checksums, an interrupted transfer that resumes, unpacking, failures."""
import hashlib
import http.server
import threading
import zipfile

import cv2
import numpy as np
import pytest

from mtcnn_gluon.data.facepoint import load_facepoint

from mtcnn_gluon.data.wider import load_wider
from mtcnn_gluon.data.download import DATA_HUB, DownloadError, Resource, download_all, fetch


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}  # path -> bytes
    cut_once = set()  # paths whose next full response is cut after half the bytes
    log = []  # (path, Range header)

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).log.append((self.path, self.headers.get("Range")))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.cut_once and not rng:
            self.cut_once.discard(self.path)
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.files, _Handler.cut_once, _Handler.log = {}, set(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path.read_bytes()


def _jpeg():
    return cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()


def _archives(tmp_path):
    jpg = _jpeg()
    noise = np.random.default_rng(0).integers(0, 255, 300_000, dtype=np.uint8).tobytes()  # big enough to cut
    split = _zip(tmp_path / "split.zip", {
        "wider_face_split/wider_face_train_bbx_gt.txt": "0--Parade/a.jpg\n1\n1 2 10 12 0 0 0 0 0 0 \n"})
    train = _zip(tmp_path / "train.zip", {"WIDER_train/images/0--Parade/a.jpg": jpg})
    facepoint = _zip(tmp_path / "fp.zip", {  # archive without a top folder
        "trainImageList.txt": "lfw_5590\\x.jpg 5 30 6 32 10 12 25 12 18 20 11 26 24 26\n",
        "lfw_5590/x.jpg": jpg, "noise.bin": noise})
    return {"/split.zip": split, "/train.zip": train, "/fp.zip": facepoint}


def test_download_resume_verify_unpack(tmp_path, server):
    url, handler = server
    handler.files = _archives(tmp_path)
    handler.cut_once = {"/fp.zip"}
    sha1 = {k: hashlib.sha1(v).hexdigest() for k, v in handler.files.items()}
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in handler.files.items()}
    hub = {
        "wider_split": Resource(url + "/split.zip", "WIDER_FACE", "wider_face_split/wider_face_train_bbx_gt.txt",
                                md5=md5["/split.zip"]),
        "wider_train": Resource(url + "/train.zip", "WIDER_FACE", "WIDER_train/images", sha1=sha1["/train.zip"]),
        "cnn_facepoint": Resource(url + "/fp.zip", "landmarks", "trainImageList.txt", sha1=sha1["/fp.zip"]),
        "wider_val": Resource(url + "/missing.zip", "WIDER_FACE", "WIDER_val/images"),
        "bad_checksum": Resource(url + "/split.zip", "other", "x", sha1="0" * 40, filename="bad.zip"),
    }
    dest = tmp_path / "data"
    report = download_all(dest, hub=hub, progress=False, retries=2, timeout=10)
    assert sorted(report["ok"]) == ["cnn_facepoint", "wider_split", "wider_train"]
    assert "HTTP 404" in report["failed"]["wider_val"] and "missing.zip" in report["failed"]["wider_val"]
    assert "checksum mismatch" in report["failed"]["bad_checksum"]
    # the cut transfer came back with a Range request and the file is whole (sha1 checked)
    fp_requests = [r for p, r in handler.log if p == "/fp.zip"]
    assert fp_requests[0] is None and fp_requests[1].startswith("bytes=") and int(fp_requests[1][6:-1]) > 0
    # the parsers read what was unpacked
    ws = load_wider(dest, "train")
    assert [im.name for im in ws.images] == ["0--Parade/a.jpg"]
    fp = load_facepoint(dest)
    assert len(fp.faces) == 1 and not fp.missing
    assert not (dest / "archives" / "fp.zip").exists()  # archives removed after unpacking
    # a second run skips what is there and still reports what is missing
    handler.log.clear()
    again = download_all(dest, hub=hub, progress=False, retries=0, timeout=10)
    assert again["ok"]["wider_train"] == "already unpacked" and "wider_val" in again["failed"]
    assert all(p != "/train.zip" for p, _ in handler.log)


def test_fetch_resumes_a_part_file_across_runs(tmp_path, server):
    url, handler = server
    data = bytes(range(256)) * 1000
    handler.files = {"/f.bin": data}
    part = tmp_path / "f.bin.part"
    part.write_bytes(data[:1000])  # left by an earlier, broken run
    fetch(url + "/f.bin", tmp_path / "f.bin", progress=False, timeout=10)
    assert (tmp_path / "f.bin").read_bytes() == data and not part.exists()
    assert handler.log[-1] == ("/f.bin", "bytes=1000-")


def test_fetch_gives_up_and_keeps_part(tmp_path, server):
    url, handler = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(url + "/nope", tmp_path / "nope", progress=False, retries=1, timeout=10, backoff=0)


def test_registry_names_official_archives():
    assert set(DATA_HUB) == {"wider_train", "wider_val", "wider_split", "wider_eval_tools", "cnn_facepoint"}
    for res in DATA_HUB.values():
        assert res.url.startswith("http") and res.archive_name.endswith(".zip")
