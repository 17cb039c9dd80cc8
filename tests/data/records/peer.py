#!/usr/bin/env python3
"""Record batch interop peer for tests/records_interop.rs.

Subcommands:

    peer.py generate [DIR]
        (Re)writes the test vectors in DIR (default: this script's folder):
        kafka-python-*.bin, written offline by kafka-python's own record batch
        builders (v2 DefaultRecordBatchBuilder, v0/v1 LegacyRecordBatchBuilder),
        and librdkafka-*.bin, written by librdkafka (confluent-kafka) producers
        into an in-process librdkafka mock cluster and fetched back raw. Each
        NAME.bin has a NAME.expected listing what it must decode to, taken from
        the records this script asked the peer to write (see FORMAT below).

    peer.py kafka-python-decode FILE
        Decodes FILE (record batches) with kafka-python, validating each
        batch's CRC, and prints FORMAT lines.

    peer.py librdkafka-consume FILE...
        Starts a librdkafka mock cluster, writes each FILE (one v2 batch) to
        topic "interop" partition 0 with a raw Produce request, consumes the
        partition with a confluent-kafka Consumer (check.crcs=true) and prints
        the records as FORMAT "record" lines.

FORMAT (one item a line, space-separated; bytes are "~" for null, else "x"
followed by lowercase hex, so "x" alone is empty):

    batch BASE_OFFSET LAST_OFFSET MAGIC CODEC TIMESTAMP_TYPE PRODUCER_ID PRODUCER_EPOCH BASE_SEQUENCE TRANSACTIONAL CONTROL RECORDS
    record OFFSET TIMESTAMP KEY VALUE HEADER_COUNT [HEADER_KEY HEADER_VALUE]...
    control OFFSET abort|commit
    partial BYTES          (an incomplete batch ends the data; must be ignored)

Requirements: pip install -r tests/support/requirements.txt (kafka-python,
python-snappy, lz4, zstandard, confluent-kafka); regenerating the v0 lz4
vector also needs `pip install xxhash` (kafka-python's Kafka 0.8 lz4 framing).
"""
import ctypes
import glob
import importlib.util
import os
import socket
import struct
import sys
import time
import zlib

CODECS = {'none': 0, 'gzip': 1, 'snappy': 2, 'lz4': 3, 'zstd': 4}
CODEC_NAMES = {v: k for k, v in CODECS.items()}
TS_TYPES = {0: 'CreateTime', 1: 'LogAppendTime'}


def tok(b):
    if b is None:
        return '~'
    if isinstance(b, str):
        b = b.encode('utf-8')
    return 'x' + bytes(b).hex()


def record_line(offset, ts, key, value, headers):
    parts = ['record', str(offset), str(ts), tok(key), tok(value), str(len(headers))]
    for k, v in headers:
        parts += [tok(k), tok(v)]
    return ' '.join(parts)


def batch_line(base, last, magic, codec, ts_type, pid, epoch, seq, txn, ctrl, count):
    return 'batch %d %d %d %s %s %d %d %d %d %d %d' % (
        base, last, magic, codec, ts_type, pid, epoch, seq, int(txn), int(ctrl), count)


# ---------------------------------------------------------------------------
# Sample records (compressible, so that every builder keeps its codec)

FILL = b'a value repeated so that compression pays off; ' * 3


def v2_records(round_no):
    t = 1_700_000_000_000 + round_no * 1000
    return [
        (t, b'key-0', FILL + b'0', []),
        (t + 3, None, FILL + b'1', [('h1', b'v1')]),
        (t + 1, b'tombstone', None, [('null-value', None), ('', b'')]),
        (t + 10, b'', b'', []),
        (t + 20, b'key-4', FILL * 3, [('trace', b'\x00\x01\xff'), ('\u00e9t\u00e9', b'utf-8 key')]),
    ]


def legacy_records(round_no):
    t = 1_600_000_000_000 + round_no * 1000
    return [
        (t, b'k0', FILL + b'0'),
        (t + 5, None, FILL + b'1'),
        (t + 2, b'k2', None),
        (t + 9, b'', b''),
    ]


# ---------------------------------------------------------------------------
# kafka-python offline vectors

def kafka_python_v2(codec):
    from kafka.record.default_records import DefaultRecordBatchBuilder
    data = bytearray()
    expected = []
    producers = [(-1, -1, -1, False), (1000, 2, 10, False), (2000, 0, 0, True)]
    base = 0
    for round_no, (pid, epoch, seq, txn) in enumerate(producers):
        recs = v2_records(round_no)
        b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[codec], is_transactional=txn,
                                      producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                      batch_size=1 << 20)
        for i, (ts, k, v, h) in enumerate(recs):
            assert b.append(i, timestamp=ts, key=k, value=v, headers=h) is not None
        buf = bytearray(b.build())
        attrs = struct.unpack_from('>h', buf, 21)[0]
        assert attrs & 7 == CODECS[codec], 'kafka-python did not keep codec %s' % codec
        struct.pack_into('>q', buf, 0, base)  # as a broker would (not covered by the CRC)
        data += buf
        expected.append(batch_line(base, base + len(recs) - 1, 2, codec, 'CreateTime',
                                   pid, epoch, seq, txn, False, len(recs)))
        for i, (ts, k, v, h) in enumerate(recs):
            expected.append(record_line(base + i, ts, k, v, h))
        base += len(recs)
    # A fetch response ends with part of the next batch.
    data += buf[:45]
    expected.append('partial 45')
    return bytes(data), expected


def legacy_crc(buf, pos):
    """Recomputes the CRC-32 of the legacy message at pos."""
    size = struct.unpack_from('>i', buf, pos + 8)[0]
    crc = zlib.crc32(bytes(buf[pos + 16:pos + 12 + size])) & 0xffffffff
    struct.pack_into('>I', buf, pos + 12, crc)


def kafka_python_legacy(magic, codec):
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    data = bytearray()
    expected = []
    if codec == 'none':
        recs = legacy_records(0)
        b = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
        for i, (ts, k, v) in enumerate(recs):
            assert b.append(i, timestamp=ts, key=k, value=v) is not None
        data += b.build()
        for i, (ts, k, v) in enumerate(recs):
            ts = ts if magic == 1 else -1
            expected.append(batch_line(i, i, magic, 'none', 'CreateTime', -1, -1, -1, False, False, 1))
            expected.append(record_line(i, ts, k, v, []))
        return bytes(data), expected

    base = 0
    for round_no in range(2):
        recs = legacy_records(round_no)
        b = LegacyRecordBatchBuilder(magic=magic, compression_type=CODECS[codec], batch_size=1 << 20)
        for i, (ts, k, v) in enumerate(recs):
            # v1 producers write relative inner offsets; v0 inner offsets are absolute.
            assert b.append(i if magic == 1 else base + i, timestamp=ts, key=k, value=v) is not None
        buf = bytearray(b.build())
        last = base + len(recs) - 1
        struct.pack_into('>q', buf, 0, last)  # the wrapper carries the last inner offset
        log_append = magic == 1 and round_no == 1
        wrapper_ts = 1_650_000_000_000
        if log_append:
            # As a broker does for message.timestamp.type=LogAppendTime.
            buf[17] |= 0x08
            struct.pack_into('>q', buf, 18, wrapper_ts)
            legacy_crc(buf, 0)
        data += buf
        tss = [(wrapper_ts if log_append else ts) if magic == 1 else -1 for ts, _, _ in recs]
        expected.append(batch_line(base, last, magic, codec, 'LogAppendTime' if log_append else 'CreateTime',
                                   -1, -1, -1, False, False, len(recs)))
        for i, ((_, k, v), ts) in enumerate(zip(recs, tss)):
            expected.append(record_line(base + i, ts, k, v, []))
        base += len(recs)
    data += buf[:20]
    expected.append('partial 20')
    return bytes(data), expected


# ---------------------------------------------------------------------------
# librdkafka: mock cluster and a minimal raw protocol client

def find_librdkafka():
    spec = importlib.util.find_spec('confluent_kafka')
    cands = []
    if spec and spec.origin:
        sp = os.path.dirname(os.path.dirname(spec.origin))
        cands += sorted(glob.glob(os.path.join(sp, 'confluent_kafka.libs', 'librdkafka*.so*')))
        cands += sorted(glob.glob(os.path.join(sp, 'confluent_kafka', '.libs', 'librdkafka*.so*')))
    cands.append('librdkafka.so.1')
    for c in cands:
        try:
            lib = ctypes.CDLL(c)
            lib.rd_kafka_mock_cluster_new
            return lib
        except (OSError, AttributeError):
            continue
    sys.exit('peer.py: no librdkafka with mock cluster support found; '
             'pip install -r tests/support/requirements.txt')


class MockCluster:
    def __init__(self):
        L = self.lib = find_librdkafka()
        vp, cp, sz, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
        for name, res, args in [
            ('rd_kafka_conf_new', vp, []),
            ('rd_kafka_conf_set', ci, [vp, cp, cp, cp, sz]),
            ('rd_kafka_new', vp, [ci, vp, cp, sz]),
            ('rd_kafka_destroy', None, [vp]),
            ('rd_kafka_mock_cluster_new', vp, [vp, ci]),
            ('rd_kafka_mock_cluster_destroy', None, [vp]),
            ('rd_kafka_mock_cluster_bootstraps', cp, [vp]),
            ('rd_kafka_mock_topic_create', ci, [vp, cp, ci, ci]),
        ]:
            f = getattr(L, name)
            f.restype = res
            f.argtypes = args
        conf = L.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        L.rd_kafka_conf_set(conf, b'log_level', b'3', errstr, 512)
        self.rk = L.rd_kafka_new(0, conf, errstr, 512)
        assert self.rk, errstr.value
        self.mc = L.rd_kafka_mock_cluster_new(self.rk, 1)
        assert self.mc
        self.bootstraps = L.rd_kafka_mock_cluster_bootstraps(self.mc).decode()

    def create_topic(self, topic):
        assert self.lib.rd_kafka_mock_topic_create(self.mc, topic.encode(), 1, 1) == 0

    def close(self):
        self.lib.rd_kafka_mock_cluster_destroy(self.mc)
        self.lib.rd_kafka_destroy(self.rk)


def kstr(s):
    b = s.encode()
    return struct.pack('>h', len(b)) + b


class Conn:
    """Just enough of the protocol for Produce v3 and Fetch v4."""

    def __init__(self, bootstraps):
        host, port = bootstraps.split(',')[0].rsplit(':', 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.cid = 0

    def recv(self, n):
        out = b''
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError('connection closed')
            out += chunk
        return out

    def request(self, api_key, version, body):
        self.cid += 1
        msg = struct.pack('>hhi', api_key, version, self.cid) + kstr('records-peer') + body
        self.sock.sendall(struct.pack('>i', len(msg)) + msg)
        (n,) = struct.unpack('>i', self.recv(4))
        resp = self.recv(n)
        assert struct.unpack_from('>i', resp)[0] == self.cid
        return resp[4:]

    def produce(self, topic, records):
        body = (struct.pack('>h', -1) + struct.pack('>hi', -1, 10000) + struct.pack('>i', 1) + kstr(topic)
                + struct.pack('>ii', 1, 0) + struct.pack('>i', len(records)) + records)
        r = self.request(0, 3, body)
        pos = 4
        (tlen,) = struct.unpack_from('>h', r, pos)
        pos += 2 + tlen + 4
        _, err, base = struct.unpack_from('>ihq', r, pos)
        if err != 0:
            raise RuntimeError('produce error %d' % err)
        return base

    def fetch(self, topic, offset=0):
        body = (struct.pack('>iiiib', -1, 100, 1, 64 << 20, 0) + struct.pack('>i', 1) + kstr(topic)
                + struct.pack('>i', 1) + struct.pack('>iqi', 0, offset, 64 << 20))
        r = self.request(1, 4, body)
        pos = 4 + 4
        (tlen,) = struct.unpack_from('>h', r, pos)
        pos += 2 + tlen + 4
        _, err, _hw, _lso = struct.unpack_from('>ihqq', r, pos)
        pos += 4 + 2 + 8 + 8
        if err != 0:
            raise RuntimeError('fetch error %d' % err)
        (naborted,) = struct.unpack_from('>i', r, pos)
        pos += 4 + max(naborted, 0) * 16
        (n,) = struct.unpack_from('>i', r, pos)
        return r[pos + 4:pos + 4 + n]


def header_fields(data):
    """Walks v2 batch headers: (base_offset, last_offset_delta, attributes, pid, epoch, seq, count, records_pos, end)."""
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from('>qi', data, pos)
        end = pos + 12 + length
        attrs, lod = struct.unpack_from('>hi', data, pos + 21)
        pid, epoch, seq, count = struct.unpack_from('>qhii', data, pos + 43)
        yield base, lod, attrs, pid, epoch, seq, count, end
        pos = end


def fetch_all(conn, topic):
    """The mock answers a fetch with one batch: fetch until all are in."""
    data = b''
    while True:
        fields = list(header_fields(data))
        next_offset = fields[-1][0] + fields[-1][1] + 1 if fields else 0
        chunk = conn.fetch(topic, next_offset)
        if not chunk:
            return data
        data += chunk


def fix_control_batch_crcs(data):
    """The mock's coordinator writes transaction markers with a zero CRC (a
    real broker computes it): fill it in, with kafka-python's CRC-32C."""
    from kafka.record.util import calc_crc32c
    data = bytearray(data)
    pos = 0
    for _, _, attrs, _, _, _, _, end in header_fields(data):
        if attrs & 0x20 and struct.unpack_from('>I', data, pos + 17)[0] == 0:
            struct.pack_into('>I', data, pos + 17, calc_crc32c(bytes(data[pos + 21:end])))
        pos = end
    return bytes(data)


def librdkafka_expected(data, codec, sent, markers):
    """Expected lines: batch headers as fetched, records as sent, markers in order."""
    expected = []
    sent = list(sent)
    markers = list(markers)
    offset = 0
    for base, lod, attrs, pid, epoch, seq, count, _ in header_fields(data):
        control = bool(attrs & 0x20)
        if not control:
            assert attrs & 7 == CODECS[codec], 'librdkafka did not keep codec %s' % codec
        expected.append(batch_line(base, base + lod, 2, CODEC_NAMES[attrs & 7], TS_TYPES[(attrs >> 3) & 1],
                                   pid, epoch, seq, bool(attrs & 0x10), control, count))
        for _ in range(count):
            if control:
                expected.append('control %d %s' % (offset, markers.pop(0)))
            else:
                ts, k, v, h = sent.pop(0)
                expected.append(record_line(offset, ts, k, v, h))
            offset += 1
    assert not sent and not markers
    return expected


def librdkafka_vectors(outdir):
    from confluent_kafka import Producer
    mock = MockCluster()
    conn = Conn(mock.bootstraps)
    written = []
    try:
        for codec in CODECS:
            topic = 'librdkafka-' + codec
            mock.create_topic(topic)
            p = Producer({'bootstrap.servers': mock.bootstraps, 'compression.codec': codec,
                          'linger.ms': 200, 'enable.idempotence': True, 'log_level': 3})
            sent = []
            for round_no in range(2):
                for ts, k, v, h in v2_records(round_no):
                    p.produce(topic, value=v, key=k, headers=h, timestamp=ts, partition=0)
                    sent.append((ts, k, v, h))
                assert p.flush(10) == 0
            data = fetch_all(conn, topic)
            written.append(('librdkafka-v2-' + codec, data, librdkafka_expected(data, codec, sent, [])))

        # Transactions: a committed and an aborted one, each followed by the
        # control batch (transaction marker) the mock's coordinator writes.
        topic = 'librdkafka-transactions'
        mock.create_topic(topic)
        p = Producer({'bootstrap.servers': mock.bootstraps, 'transactional.id': 'records-peer',
                      'compression.codec': 'lz4', 'linger.ms': 10, 'log_level': 3})
        p.init_transactions(10)
        sent = []
        markers = []
        for round_no, commit in enumerate((True, False)):
            p.begin_transaction()
            for ts, k, v, h in v2_records(round_no)[:2]:
                p.produce(topic, value=v, key=k, headers=h, timestamp=ts, partition=0)
                sent.append((ts, k, v, h))
            assert p.flush(10) == 0
            if commit:
                p.commit_transaction(10)
            else:
                p.abort_transaction(10)
            markers.append('commit' if commit else 'abort')
        data = fix_control_batch_crcs(fetch_all(conn, topic))
        written.append(('librdkafka-v2-transactions', data, librdkafka_expected(data, 'lz4', sent, markers)))
    finally:
        mock.close()
    for name, data, expected in written:
        write_vector(outdir, name, data, expected)


def write_vector(outdir, name, data, expected):
    with open(os.path.join(outdir, name + '.bin'), 'wb') as f:
        f.write(data)
    with open(os.path.join(outdir, name + '.expected'), 'w') as f:
        f.write('# Generated by peer.py generate: what %s.bin decodes to.\n' % name)
        f.write('\n'.join(expected) + '\n')
    print('wrote %s.bin (%d bytes)' % (name, len(data)))


def generate(outdir):
    for codec in CODECS:
        write_vector(outdir, 'kafka-python-v2-' + codec, *kafka_python_v2(codec))
    for magic in (0, 1):
        for codec in ('none', 'gzip', 'snappy', 'lz4'):  # zstd needs message format v2
            write_vector(outdir, 'kafka-python-v%d-%s' % (magic, codec), *kafka_python_legacy(magic, codec))
    librdkafka_vectors(outdir)


# ---------------------------------------------------------------------------
# Live decoding of batches written by kafka-blocking

def kafka_python_decode(path):
    from kafka.record.memory_records import MemoryRecords
    data = open(path, 'rb').read()
    mr = MemoryRecords(data)
    while True:
        b = mr.next_batch()
        if b is None:
            break
        if not b.validate_crc():
            sys.exit('peer.py: CRC check failed for batch at offset %d' % b.base_offset)
        recs = list(b)
        print(batch_line(b.base_offset, b.last_offset, b.magic, CODEC_NAMES[b.compression_type],
                         TS_TYPES[b.timestamp_type], b.producer_id, b.producer_epoch, b.base_sequence,
                         b.is_transactional, b.is_control_batch, len(recs)))
        for r in recs:
            print(record_line(r.offset, r.timestamp, r.key, r.value, r.headers))


def librdkafka_consume(paths):
    from confluent_kafka import Consumer, TopicPartition
    mock = MockCluster()
    topic = 'interop'
    mock.create_topic(topic)
    try:
        conn = Conn(mock.bootstraps)
        total = 0
        for path in paths:
            data = open(path, 'rb').read()
            conn.produce(topic, data)
            total += sum(h[6] for h in header_fields(data))
        c = Consumer({'bootstrap.servers': mock.bootstraps, 'group.id': 'records-peer',
                      'enable.auto.commit': False, 'check.crcs': True, 'log_level': 3})
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.time() + 30
        while len(got) < total and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                print('peer.py: consumer error: %s' % m.error(), file=sys.stderr)
                continue
            got.append(m)
        c.close()
        for m in got:
            print(record_line(m.offset(), m.timestamp()[1], m.key(), m.value(), m.headers() or []))
        if len(got) < total:
            sys.exit('peer.py: consumed %d of %d records' % (len(got), total))
    finally:
        mock.close()


def main(argv):
    if len(argv) >= 1 and argv[0] == 'generate':
        generate(argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    elif len(argv) == 2 and argv[0] == 'kafka-python-decode':
        kafka_python_decode(argv[1])
    elif len(argv) >= 2 and argv[0] == 'librdkafka-consume':
        librdkafka_consume(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
