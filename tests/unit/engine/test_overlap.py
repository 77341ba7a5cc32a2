"""The upload that follows a download: it never sends the last bytes
before the checks passed."""

import threading

import pytest

from image_importer.engine import overlap


def test_the_last_bytes_wait_for_release(tmp_path):
    path = tmp_path / 'source'
    data = bytes(range(256)) * (overlap.HOLD // 128)    # 2 x HOLD
    path.write_bytes(data)
    reader = overlap.FollowReader(str(path))
    reader.wrote(len(data))

    sent = b''
    while len(sent) < len(data) - overlap.HOLD:
        sent += reader.read(1 << 20)
    assert sent == data[:len(data) - overlap.HOLD]

    waiting = []
    thread = threading.Thread(target=lambda: waiting.append(reader.read()))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and waiting == []     # held back
    reader.release()
    thread.join(5)
    while chunk := reader.read():
        waiting.append(chunk)
    assert sent + b''.join(waiting) == data
    reader.close()


def test_an_aborted_upload_gets_no_more_bytes(tmp_path):
    path = tmp_path / 'source'
    path.write_bytes(b'x' * 10)
    reader = overlap.FollowReader(str(path))
    reader.wrote(10)
    reader.abort()

    with pytest.raises(overlap.Aborted):
        reader.read()
