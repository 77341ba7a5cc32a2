"""The upload that follows a download: it never sends the last bytes
before the checks passed, and holds only a bounded buffer in memory."""

import hashlib
import threading

import pytest

from image_importer.engine import glance
from image_importer.engine import overlap

MIB = 1024 * 1024


def read_all(reader, until):
    sent = b''
    while len(sent) < until:
        sent += reader.read(MIB)
    return sent


def test_the_file_start_then_what_is_fed_and_the_last_bytes_wait(tmp_path):
    path = tmp_path / 'source'
    start = b'S' * 1000
    path.write_bytes(start)
    fed = bytes(range(256)) * (overlap.HOLD // 128)     # 2 x HOLD
    reader = overlap.StreamReader(str(path), len(start))
    for offset in range(0, len(fed), MIB):
        reader.feed(fed[offset:offset + MIB])
    data = start + fed

    sent = read_all(reader, len(data) - overlap.HOLD)
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
    assert reader.hash.hexdigest() == hashlib.sha512(data).hexdigest()
    reader.end()


def test_feeding_waits_while_the_buffer_is_full(tmp_path):
    path = tmp_path / 'source'
    path.write_bytes(b'')
    limit = overlap.HOLD + MIB
    reader = overlap.StreamReader(str(path), 0, limit=limit)
    fed = [bytes([n]) * MIB for n in range(limit // MIB + 1)]
    for chunk in fed[:-1]:
        reader.feed(chunk)

    last = threading.Thread(target=reader.feed, args=(fed[-1],))
    last.start()
    last.join(0.5)
    assert last.is_alive()          # the buffer is full: the download waits
    assert read_all(reader, MIB) == fed[0]
    last.join(5)
    assert not last.is_alive()
    reader.release()
    assert read_all(reader, len(fed) * MIB - MIB) == b''.join(fed[1:])
    assert reader.read() == b''


def test_a_full_buffer_lets_the_feed_go_on_once_half_of_it_is_sent(
        tmp_path):
    reader = overlap.StreamReader(str(tmp_path / 'source'), 0)
    fed = [bytes([n]) * MIB for n in range(overlap.BUFFER // MIB + 1)]
    for chunk in fed[:-1]:
        reader.feed(chunk)
    last = threading.Thread(target=reader.feed, args=(fed[-1],))
    last.start()

    sent = read_all(reader, MIB)        # room for the chunk, not yet half
    last.join(0.3)
    assert last.is_alive()
    sent += read_all(reader, overlap.BUFFER // 2 - 2 * MIB)
    last.join(0.3)
    assert last.is_alive()              # just above half the buffer
    sent += read_all(reader, MIB)
    last.join(5)
    assert not last.is_alive()
    reader.release()
    while piece := reader.read():
        sent += piece
    assert sent == b''.join(fed)
    reader.end()


def test_the_upload_reads_pieces_of_at_most_upload_piece(tmp_path):
    # glanceclient asks for 1 MiB and sends each read as one HTTP chunk;
    # Glance takes small chunks far cheaper (engine.glance.UPLOAD_PIECE).
    path = tmp_path / 'source'
    start = b'S' * (glance.UPLOAD_PIECE + 7)
    path.write_bytes(start)
    reader = overlap.StreamReader(str(path), len(start))
    fed = [bytes([n]) * size for n, size in enumerate(
        (MIB, 3, glance.UPLOAD_PIECE, MIB + 5, overlap.HOLD))]
    for chunk in fed:
        reader.feed(chunk)
    reader.release()

    pieces = []
    while piece := reader.read(MIB):
        pieces.append(piece)

    assert b''.join(pieces) == start + b''.join(fed)
    assert max(map(len, pieces)) == glance.UPLOAD_PIECE
    assert reader.read(-1) == b''
    reader.end()


def test_the_buffer_holds_more_than_the_held_back_bytes(tmp_path):
    with pytest.raises(ValueError):
        overlap.StreamReader(str(tmp_path / 'source'), 0,
                             limit=overlap.HOLD)


def test_feeding_an_upload_that_ended_stops_the_download(tmp_path):
    path = tmp_path / 'source'
    path.write_bytes(b'')
    reader = overlap.StreamReader(str(path), 0,
                                  limit=overlap.HOLD + MIB)
    reader.feed(b'x' * (overlap.HOLD + MIB))
    blocked = []

    def feed():
        try:
            reader.feed(b'y' * MIB)
        except overlap.UploadStopped as exc:
            blocked.append(exc)

    thread = threading.Thread(target=feed)
    thread.start()
    reader.end()                    # Glance broke the upload
    thread.join(5)
    assert len(blocked) == 1
    with pytest.raises(overlap.UploadStopped):
        reader.feed(b'z')


def test_an_aborted_upload_gets_no_more_bytes(tmp_path):
    path = tmp_path / 'source'
    path.write_bytes(b'x' * 10)
    reader = overlap.StreamReader(str(path), 10)
    reader.abort()

    with pytest.raises(overlap.Aborted):
        reader.read()
    with pytest.raises(overlap.Aborted):
        reader.feed(b'more')


def test_a_reader_told_not_to_hash_sends_the_same_bytes(tmp_path):
    # The caller has the hash already (the download's, same bytes).
    path = tmp_path / 'source'
    path.write_bytes(b'S' * 100)
    reader = overlap.StreamReader(str(path), 100, hashing=False)
    reader.feed(b'F' * (overlap.HOLD + 10))
    reader.release()

    assert read_all(reader, 100 + overlap.HOLD + 10) == (
        b'S' * 100 + b'F' * (overlap.HOLD + 10))
    assert reader.read() == b'' and reader.hash is None
    reader.end()
