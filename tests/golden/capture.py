#!/usr/bin/env python3
"""capture.py - record golden Kafka protocol vectors from real peers.

Produces the files under tests/data/golden/ that tests/golden_vectors.rs checks
(decode with our generated types, re-encode, compare bytes).

Live vectors: a recording TCP proxy (stdlib, threads) sits between a real client
(kafka-python, confluent-kafka/librdkafka, kcat) and a real broker (tansu, the
librdkafka mock cluster).  It splits both directions into Kafka frames (int32
size prefix), reads api_key/api_version/correlation_id/client_id from each
request header, matches responses by correlation id and keeps, for every
(api, version, direction, peer), the largest frame of at most --max-frame bytes.
A kept frame is written as

    <ApiName>-v<version>-<request|response>-<peer>.bin

holding the frame without its 4-byte size prefix (header included).  The request
peer is the client (named from its client.id, which every scenario sets to
`golden-<peer>`), the response peer is the broker (`tansu`, `rdkafkamock`).

The brokers are made to send clients back through the proxy: tansu advertises the
proxy's port; for the mock cluster (which advertises its own ports) there is one
proxy per mock broker, and the proxy rewrites the int32 port that follows
"127.0.0.1" in Metadata / FindCoordinator / DescribeCluster responses and in the
NodeEndpoints of Produce / Fetch responses, *in the forwarded copy only* (the
recorded bytes are the broker's own).

Derived vectors: ConsumerProtocolSubscription / ConsumerProtocolAssignment blobs
(int16 version + body), as encoded by the client, are cut out of the recorded
JoinGroup requests (protocol metadata) and SyncGroup requests (the leader's
assignments):

    ConsumerProtocol{Subscription,Assignment}-v<version>-data-<peer>.bin

Offline vectors: for every (api, version, direction) in the crate's range that no
live peer produced, kafka-python's JSON-schema encoder (an independent
implementation) encodes a message whose every field present at that version holds
a non-default sample value (arrays of two elements, tagged fields set):

    <ApiName>-v<version>-<request|response>-kafkapython-offline-body.bin

(body only, no header).

Usage (from the repository root, with tests/support/requirements.txt installed):

    python3 tests/golden/capture.py            # live capture + offline vectors
    python3 tests/golden/capture.py --offline-only
    python3 tests/golden/capture.py --clean    # delete old .bin files first

Needs: tansu 0.6.0 (~/.cache/kafka-blocking/tansu-0.6.0/tansu or $KAFKA_BLOCKING_TANSU;
`cargo test --test infra_smoke` installs it), kafka-python, confluent-kafka, kcat
(optional).
"""
import argparse
import glob
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
OUT_DIR = os.path.join(ROOT, 'tests', 'data', 'golden')
MOCK_PY = os.path.join(ROOT, 'tests', 'support', 'mock_cluster.py')

API_NAMES = {
    0: 'Produce', 1: 'Fetch', 2: 'ListOffsets', 3: 'Metadata', 8: 'OffsetCommit',
    9: 'OffsetFetch', 10: 'FindCoordinator', 11: 'JoinGroup', 12: 'Heartbeat',
    13: 'LeaveGroup', 14: 'SyncGroup', 15: 'DescribeGroups', 16: 'ListGroups',
    17: 'SaslHandshake', 18: 'ApiVersions', 19: 'CreateTopics', 20: 'DeleteTopics',
    21: 'DeleteRecords', 22: 'InitProducerId', 23: 'OffsetForLeaderEpoch',
    24: 'AddPartitionsToTxn', 25: 'AddOffsetsToTxn', 26: 'EndTxn',
    28: 'TxnOffsetCommit', 32: 'DescribeConfigs', 36: 'SaslAuthenticate',
    37: 'CreatePartitions', 42: 'DeleteGroups', 44: 'IncrementalAlterConfigs',
    60: 'DescribeCluster', 68: 'ConsumerGroupHeartbeat',
}
API_KEYS = {v: k for k, v in API_NAMES.items()}
# APIs whose responses carry broker host/port pairs (Produce and Fetch: the
# NodeEndpoints tagged field of KIP-951).
ADDRESS_APIS = {0, 1, 3, 10, 60}

LOG_LOCK = threading.Lock()


def log(*a):
    with LOG_LOCK:
        print('[capture %s]' % time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Recorder and proxy
# --------------------------------------------------------------------------

class Recorder:
    """Keeps the largest frame (<= max_frame) per (api, version, direction, peer)."""

    def __init__(self, max_frame):
        self.max_frame = max_frame
        self.lock = threading.Lock()
        self.frames = {}   # (api_name, version, direction, peer) -> bytes
        self.skipped = {}  # key -> reason
        self.seen = set()

    def offer(self, api_key, version, direction, peer, frame):
        name = API_NAMES.get(api_key)
        if name is None:
            return
        key = (name, version, direction, peer)
        with self.lock:
            self.seen.add(key)
            if len(frame) > self.max_frame:
                self.skipped.setdefault(key, 'frame of %d bytes > %d' % (len(frame), self.max_frame))
                return
            old = self.frames.get(key)
            if old is None or len(frame) > len(old):
                self.frames[key] = bytes(frame)

    def put(self, key, blob):
        with self.lock:
            old = self.frames.get(key)
            if old is None or len(blob) > len(old):
                self.frames[key] = bytes(blob)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def client_peer(client_id):
    """Peer name from a client.id set by the scenarios (`golden-<peer>[-...]`)."""
    if client_id and client_id.startswith('golden-'):
        return client_id[len('golden-'):].split('-')[0]
    return None


def parse_request_header(frame):
    api_key, api_version, corr = struct.unpack_from('>hhi', frame, 0)
    client_id = None
    if len(frame) >= 10:
        n = struct.unpack_from('>h', frame, 8)[0]
        if n >= 0 and 10 + n <= len(frame):
            client_id = frame[10:10 + n].decode('utf-8', 'replace')
    return api_key, api_version, corr, client_id


class Proxy:
    """One listening socket forwarding to one upstream broker."""

    def __init__(self, recorder, broker_peer):
        self.recorder = recorder
        self.broker_peer = broker_peer
        self.upstream = None
        self.rewrites = []  # (old_bytes, new_bytes) applied to forwarded address responses
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        for s in list(self.conns):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        try:
            up = socket.create_connection(self.upstream, timeout=10)
            up.settimeout(None)
        except OSError as e:
            log('proxy %d: cannot reach upstream %s: %s' % (self.port, self.upstream, e))
            client.close()
            return
        self.conns += [client, up]
        state = {'pending': {}, 'lock': threading.Lock()}
        t = threading.Thread(target=self._c2b, args=(client, up, state), daemon=True)
        t.start()
        self._b2c(up, client, state)

    def _c2b(self, client, up, state):
        try:
            while True:
                size = recv_exact(client, 4)
                n = struct.unpack('>i', size)[0]
                frame = recv_exact(client, n)
                try:
                    api_key, ver, corr, cid = parse_request_header(frame)
                    peer = client_peer(cid)
                    with state['lock']:
                        state['pending'][corr] = (api_key, ver, peer)
                    if peer:
                        if api_key == 0:
                            codec = produce_codec(ver, frame)
                            if codec and codec != 'none':
                                peer = '%s-%s' % (peer, codec)
                        self.recorder.offer(api_key, ver, 'request', peer, frame)
                except struct.error:
                    pass
                up.sendall(size + frame)
        except (EOFError, OSError):
            pass
        finally:
            for s in (client, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _b2c(self, up, client, state):
        try:
            while True:
                n = struct.unpack('>i', recv_exact(up, 4))[0]
                frame = recv_exact(up, n)
                corr = struct.unpack_from('>i', frame, 0)[0] if n >= 4 else None
                with state['lock']:
                    info = state['pending'].pop(corr, None)
                out = frame
                if info is not None:
                    api_key, ver, peer = info
                    keep = True
                    if api_key == 18 and n >= 6 and struct.unpack_from('>h', frame, 4)[0] == 35:
                        # UNSUPPORTED_VERSION: the body is in the v0 format, not v<ver>.
                        keep = False
                    if keep and peer:
                        self.recorder.offer(api_key, ver, 'response', self.broker_peer, frame)
                    if api_key in ADDRESS_APIS and self.rewrites:
                        out = self._rewrite(frame)
                client.sendall(struct.pack('>i', len(out)) + out)
        except (EOFError, OSError):
            pass
        finally:
            for s in (client, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass

    def _rewrite(self, frame):
        for old, new in self.rewrites:
            frame = frame.replace(old, new)
        return frame


CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']


def produce_codec(version, frame):
    """Compression codec of the first record batch of a Produce request frame."""
    try:
        body = split_header('Produce', 'request', version, frame)
        msg = kp_class('ProduceRequest').decode(body, version=version)
        for t in msg.topic_data:
            for p in t.partition_data:
                rec = bytes(p.records or b'')
                if len(rec) > 22 and rec[16] == 2:
                    return CODECS[struct.unpack_from('>h', rec, 21)[0] & 7]
                if len(rec) > 18:  # legacy message set: attributes after crc+magic
                    return CODECS[rec[21] & 7]
    except Exception as e:
        log('cannot read the codec of a Produce v%d request: %r' % (version, e))
    return None


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _pdeathsig():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))
    except Exception:
        pass


# --------------------------------------------------------------------------
# Brokers
# --------------------------------------------------------------------------

def tansu_binary():
    env = os.environ.get('KAFKA_BLOCKING_TANSU')
    if env:
        return env
    cache = os.environ.get('KAFKA_BLOCKING_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'),
        'kafka-blocking')
    return os.path.join(cache, 'tansu-0.6.0', 'tansu')


class Tansu:
    """tansu behind a recording proxy; it advertises the proxy's port."""

    def __init__(self, recorder, authentication=False):
        self.proxy = Proxy(recorder, 'tansu')
        self.port = free_port()
        self.proxy.upstream = ('127.0.0.1', self.port)
        cmd = [tansu_binary(), 'broker',
               '--listener-url', 'tcp://127.0.0.1:%d' % self.port,
               '--advertised-listener-url', 'tcp://127.0.0.1:%d' % self.proxy.port,
               '--storage-engine', 'memory://tansu/']
        if authentication:
            cmd.append('--authentication')
        env = dict(os.environ, RUST_LOG=os.environ.get('TANSU_RUST_LOG', 'error'))
        self.log_path = os.path.join(tempfile.gettempdir(), 'golden-tansu-%d.log' % self.port)
        self.logf = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env, preexec_fn=_pdeathsig)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError('tansu did not start')
        self.bootstrap = '127.0.0.1:%d' % self.proxy.port
        log('tansu on %d, proxy %s' % (self.port, self.bootstrap))

    def stop(self):
        self.proxy.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.logf.close()
        os.remove(self.log_path)


class Mock:
    """librdkafka mock cluster; one recording proxy per mock broker."""

    def __init__(self, recorder, brokers=3, topics=()):
        args = [sys.executable, MOCK_PY, '-b', str(brokers)]
        for t in topics:
            args += ['-t', t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, preexec_fn=_pdeathsig)
        boot = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError('mock cluster died')
            if line.startswith('BOOTSTRAP '):
                boot = line.split()[1]
                break
        ports = [int(hp.rsplit(':', 1)[1]) for hp in boot.split(',')]
        self.proxies = []
        for p in ports:
            px = Proxy(recorder, 'rdkafkamock')
            px.upstream = ('127.0.0.1', p)
            self.proxies.append(px)
        rewrites = [(b'127.0.0.1' + struct.pack('>i', p), b'127.0.0.1' + struct.pack('>i', px.port))
                    for p, px in zip(ports, self.proxies)]
        for px in self.proxies:
            px.rewrites = rewrites
        self.bootstrap = ','.join('127.0.0.1:%d' % px.port for px in self.proxies)
        log('mock brokers %s, proxies %s' % (ports, self.bootstrap))

    def cmd(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()
        out = []
        while True:
            r = self.proc.stdout.readline()
            if not r:
                raise RuntimeError('mock cluster died')
            out.append(r.strip())
            if r.startswith('OK') or r.startswith('ERR'):
                break
        if out[-1].startswith('ERR'):
            raise RuntimeError('mock: %s -> %s' % (line, out[-1]))
        return out

    def stop(self):
        for px in self.proxies:
            px.close()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

def scenario(fn):
    def run(*a, **kw):
        t0 = time.time()
        log('scenario %s ...' % fn.__name__)
        try:
            fn(*a, **kw)
            log('scenario %s done (%.1fs)' % (fn.__name__, time.time() - t0))
        except Exception:
            log('scenario %s FAILED:\n%s' % (fn.__name__, traceback.format_exc()))
    run.__name__ = fn.__name__
    return run


KP = 'golden-kafkapython'
RK = 'golden-librdkafka'
# Compressible values: librdkafka and kafka-python send a batch uncompressed when
# compression would not make it smaller.
RECORDS = [(b'k%d' % i, b'value-%d-' % i + b'abcdefgh' * 16, [('h%d' % i, b'hv')]) for i in range(3)]


def kp_common(bootstrap, extra=None):
    c = {'bootstrap_servers': bootstrap, 'client_id': KP, 'request_timeout_ms': 15000}
    c.update(extra or {})
    return c


@scenario
def kp_admin(bootstrap):
    from kafka.admin import KafkaAdminClient, NewTopic, ConfigResource, ConfigResourceType
    admin = KafkaAdminClient(**kp_common(bootstrap))
    try:
        admin.create_topics([NewTopic('golden-kp-admin', 2, 1, topic_configs={'retention.ms': '3600000'}),
                             NewTopic('golden-kp-del', 1, 1)])
        try:  # again: TOPIC_ALREADY_EXISTS
            admin.create_topics([NewTopic('golden-kp-admin', 2, 1)], raise_errors=False)
        except Exception as e:
            log('expected:', e)
        time.sleep(0.5)
        admin.describe_topics(['golden-kp-admin'])
        admin.list_topics()
        admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'golden-kp-admin')])
        for call in (
            lambda: admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'golden-kp-admin',
                                                        configs={'retention.ms': '7200000'})],
                                        incremental=True),
            lambda: admin.describe_cluster(),
            lambda: admin.list_groups(),
        ):
            try:
                call()
            except Exception as e:
                log('kp_admin step failed (may be expected):', repr(e))
        admin.delete_topics(['golden-kp-del'])
    finally:
        admin.close()


@scenario
def kp_delete_records(bootstrap, topic):
    """tansu drops the connection on DeleteRecords: the request is still real."""
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition
    admin = KafkaAdminClient(**kp_common(bootstrap, {'request_timeout_ms': 3000}))
    try:
        admin.delete_records({TopicPartition(topic, 0): 1}, timeout_ms=2000)
    except Exception as e:
        log('kp_delete_records (expected failure):', repr(e))
    finally:
        admin.close()


@scenario
def kp_produce(bootstrap, topic, mock=False):
    from kafka import KafkaProducer
    extra = {'api_version': (2, 3)} if mock else {}
    for codec in (None, 'gzip', 'snappy', 'lz4', 'zstd'):
        if mock and codec == 'zstd':
            continue  # needs produce v7+ / api_version >= 2.1 and is the same as above
        p = KafkaProducer(**kp_common(bootstrap, dict(extra, compression_type=codec, linger_ms=0)))
        for k, v, h in RECORDS:
            p.send(topic, key=k, value=v + (codec or 'none').encode(), headers=h, partition=0)
        p.flush(15)
        p.close(5)


@scenario
def kp_group(bootstrap, topic, group, mock=False):
    from kafka import KafkaConsumer
    extra = {'api_version': (2, 3)} if mock else {}
    c = KafkaConsumer(**kp_common(bootstrap, dict(extra, group_id=group, auto_offset_reset='earliest',
                                                  enable_auto_commit=False, session_timeout_ms=6000,
                                                  heartbeat_interval_ms=300, fetch_max_wait_ms=200,
                                                  max_poll_records=5)))
    c.subscribe([topic])
    got = 0
    end = time.time() + 30
    while time.time() < end and got < 3:
        for recs in c.poll(timeout_ms=500).values():
            got += len(recs)
    c.commit()
    t = time.time() + 2
    while time.time() < t:  # heartbeats
        c.poll(timeout_ms=200)
    c.committed(next(iter(c.assignment())))
    c.close()
    log('kp_group consumed', got)


@scenario
def kp_groups_admin(bootstrap, group):
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(**kp_common(bootstrap))
    try:
        for call in (lambda: admin.list_groups(),
                     lambda: admin.describe_groups([group]),
                     lambda: admin.delete_groups([group])):
            try:
                call()
            except Exception as e:
                log('kp_groups_admin step failed (may be expected):', repr(e))
    finally:
        admin.close()


@scenario
def kp_txn(bootstrap, topic, group, mock=False):
    from kafka import KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    extra = {'api_version': (2, 3)} if mock else {}
    p = KafkaProducer(**kp_common(bootstrap, dict(extra, transactional_id='golden-kp-txn', linger_ms=0)))
    p.init_transactions()
    p.begin_transaction()
    for k, v, h in RECORDS:
        p.send(topic, key=k, value=v, headers=h, partition=0)
    p.flush(15)
    try:
        from kafka.consumer.group import ConsumerGroupMetadata  # kafka-python >= 2.1?
        gm = ConsumerGroupMetadata(group)
    except Exception:
        gm = group
    p.send_offsets_to_transaction({TopicPartition(topic, 0): OffsetAndMetadata(1, 'meta', -1)}, gm)
    p.commit_transaction()
    p.close(5)


@scenario
def kp_sasl(bootstrap):
    from kafka import KafkaProducer
    for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-512'):
        try:
            p = KafkaProducer(**kp_common(bootstrap, dict(security_protocol='SASL_PLAINTEXT', sasl_mechanism=mech,
                                                          sasl_plain_username='alice',
                                                          sasl_plain_password='secret',
                                                          max_block_ms=3000,
                                                          bootstrap_timeout_ms=3000)))
            p.close(1)
        except Exception as e:
            log('kp_sasl %s (expected failure): %r' % (mech, e))


def rk_conf(bootstrap, **extra):
    c = {'bootstrap.servers': bootstrap, 'client.id': RK, 'broker.address.family': 'v4'}
    c.update(extra)
    return c


@scenario
def rk_produce(bootstrap, topic):
    from confluent_kafka import Producer
    for codec in ('none', 'gzip', 'snappy', 'lz4', 'zstd'):
        p = Producer(rk_conf(bootstrap, **{'compression.type': codec, 'linger.ms': 0,
                                           'enable.idempotence': True}))
        for k, v, h in RECORDS:
            p.produce(topic, key=k, value=v + codec.encode(), headers=h, partition=0)
        left = p.flush(15)
        assert left == 0, 'unflushed %d' % left


@scenario
def rk_txn(bootstrap, topic, group):
    from confluent_kafka import Producer, Consumer, TopicPartition
    c = Consumer(rk_conf(bootstrap, **{'group.id': group, 'session.timeout.ms': 6000,
                                       'auto.offset.reset': 'earliest', 'enable.auto.commit': False}))
    p = Producer(rk_conf(bootstrap, **{'transactional.id': 'golden-rk-txn', 'linger.ms': 0}))
    p.init_transactions(20)
    p.begin_transaction()
    for k, v, h in RECORDS:
        p.produce(topic, key=k, value=v, headers=h, partition=0)
    p.flush(15)
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 2, 'meta')], c.consumer_group_metadata(), 20)
    p.commit_transaction(20)
    # an aborted one too
    p.begin_transaction()
    p.produce(topic, key=b'aborted', value=b'aborted', partition=0)
    p.flush(15)
    p.abort_transaction(20)
    c.close()


@scenario
def rk_group(bootstrap, topic, group, protocol='classic', mock=None, move_leader=False):
    """Consumer group with commits; with move_leader, the mock moves the partition's
    leader (bumping its epoch) mid-way so that the consumer validates its position
    with OffsetForLeaderEpoch (KIP-320)."""
    from confluent_kafka import Consumer, Producer
    conf = {'group.id': group, 'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
            'fetch.wait.max.ms': 200, 'topic.metadata.refresh.interval.ms': 1000}
    if protocol == 'consumer':
        conf['group.protocol'] = 'consumer'
    else:
        conf.update({'session.timeout.ms': 6000, 'heartbeat.interval.ms': 300})
    c = Consumer(rk_conf(bootstrap, **conf))
    c.subscribe([topic])

    def poll_for(seconds, want=None):
        n = 0
        end = time.time() + seconds
        while time.time() < end and (want is None or n < want):
            m = c.poll(0.2)
            if m is not None and not m.error():
                n += 1
        return n

    got = poll_for(40, 3)
    c.commit(asynchronous=False)
    if move_leader:
        mock.cmd('leader %s 0 2' % topic)
        p = Producer(rk_conf(bootstrap, **{'linger.ms': 0}))
        for i in range(3):
            p.produce(topic, value=b'after-move-%d' % i, partition=0)
        p.flush(15)
        got += poll_for(8)
        try:
            c.commit(asynchronous=False)
        except Exception as e:
            log('rk_group commit after leader move: %r' % e)
    try:
        c.committed(c.assignment(), 10)
    except Exception as e:
        log('rk_group committed(): %r' % e)
    poll_for(2)
    c.close()
    log('rk_group(%s) consumed %d' % (protocol, got))


@scenario
def kp_create_partitions(bootstrap, topic):
    """tansu does not advertise CreatePartitions; with a fixed api_version kafka-python
    sends it anyway, which gives a real request (tansu does not answer it)."""
    from kafka.admin import KafkaAdminClient, NewPartitions
    admin = KafkaAdminClient(**kp_common(bootstrap, {'api_version': (3, 9), 'request_timeout_ms': 3000}))
    try:
        admin.create_partitions({topic: NewPartitions(4)}, timeout_ms=2000)
    except Exception as e:
        log('kp_create_partitions (expected failure): %r' % e)
    finally:
        admin.close()


@scenario
def rk_admin(bootstrap, group):
    from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource, \
        ConfigEntry, AlterConfigOpType
    from confluent_kafka import TopicPartition
    a = AdminClient(rk_conf(bootstrap))

    def wait(fs, what):
        for k, f in (fs.items() if isinstance(fs, dict) else [(what, fs)]):
            try:
                f.result(15)
            except Exception as e:
                log('rk_admin %s %s: %r' % (what, k, e))

    wait(a.create_topics([NewTopic('golden-rk-admin', 2, 1, config={'retention.ms': '3600000'}),
                          NewTopic('golden-rk-del', 1, 1)], request_timeout=10), 'create_topics')
    wait(a.create_topics([NewTopic('golden-rk-admin', 2, 1)], validate_only=True), 'create_topics(dup)')
    time.sleep(0.5)
    a.list_topics(timeout=10)
    wait(a.describe_configs([ConfigResource('topic', 'golden-rk-admin')]), 'describe_configs')
    wait(a.incremental_alter_configs([ConfigResource('topic', 'golden-rk-admin', incremental_configs=[
        ConfigEntry('retention.ms', '7200000', incremental_operation=AlterConfigOpType.SET)])]),
        'incremental_alter_configs')
    wait(a.describe_cluster(request_timeout=10), 'describe_cluster')
    wait(a.list_consumer_groups(request_timeout=10), 'list_consumer_groups')
    wait(a.describe_consumer_groups([group], request_timeout=10), 'describe_consumer_groups')
    wait(a.delete_consumer_groups([group], request_timeout=10), 'delete_consumer_groups')
    wait(a.create_partitions([NewPartitions('golden-rk-admin', 4)], request_timeout=5), 'create_partitions')
    wait(a.delete_topics(['golden-rk-del'], request_timeout=10), 'delete_topics')
    wait(a.delete_records([TopicPartition('golden-rk-admin', 0, 1)], request_timeout=3), 'delete_records')


@scenario
def rk_sasl(bootstrap):
    from confluent_kafka import Producer
    for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-512'):
        p = Producer(rk_conf(bootstrap, **{'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': mech,
                                           'sasl.username': 'alice', 'sasl.password': 'secret'}))
        p.poll(3)
        p.flush(0)


def kcat_env():
    env = dict(os.environ)
    try:
        import confluent_kafka
        libs = glob.glob(os.path.join(os.path.dirname(confluent_kafka.__file__), '..',
                                      'confluent_kafka.libs', 'librdkafka*'))
        if libs:
            env['LD_PRELOAD'] = os.path.abspath(libs[0])
    except ImportError:
        pass
    return env


@scenario
def kcat(bootstrap, topic):
    import shutil
    if not shutil.which('kcat'):
        log('kcat not installed, skipped')
        return
    base = ['kcat', '-b', bootstrap, '-X', 'client.id=golden-kcat', '-X', 'broker.address.family=v4']
    env = kcat_env()
    subprocess.run(base + ['-L'], env=env, timeout=30, stdout=subprocess.DEVNULL, check=True)
    subprocess.run(base + ['-P', '-t', topic, '-p', '0', '-K:', '-z', 'lz4'], env=env, timeout=30,
                   input=b''.join(b'k%d:%s\n' % (i, b'kcat-value-' * 12) for i in range(3)), check=True)
    subprocess.run(base + ['-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-c', '4'],
                   env=env, timeout=30, stdout=subprocess.DEVNULL, check=True)


def run_live(rec):
    if os.path.exists(tansu_binary()):
        tn = Tansu(rec)
        try:
            b = tn.bootstrap
            kp_admin(b)
            kp_produce(b, 'golden-kp')
            kp_group(b, 'golden-kp', 'golden-kp-group')
            kp_txn(b, 'golden-kp', 'golden-kp-group')
            kp_groups_admin(b, 'golden-kp-group')
            rk_produce(b, 'golden-rk')
            rk_group(b, 'golden-rk', 'golden-rk-group')
            rk_txn(b, 'golden-rk', 'golden-rk-group')
            rk_admin(b, 'golden-rk-group')
            kcat(b, 'golden-kcat')
            kp_create_partitions(b, 'golden-kp-admin')
            kp_delete_records(b, 'golden-kp')
        finally:
            tn.stop()
        tn = Tansu(rec, authentication=True)
        try:
            kp_sasl(tn.bootstrap)
            rk_sasl(tn.bootstrap)
        finally:
            tn.stop()
    else:
        log('no tansu binary at %s: tansu scenarios skipped' % tansu_binary())

    mk = Mock(rec, brokers=3, topics=['golden-mock:1:3', 'golden-mock-kp:1:3', 'golden-mock-848:2:3'])
    try:
        b = mk.bootstrap
        rk_produce(b, 'golden-mock')
        rk_group(b, 'golden-mock', 'golden-mock-group', mock=mk, move_leader=True)
        rk_txn(b, 'golden-mock', 'golden-mock-group')
        rk_produce(b, 'golden-mock-848')
        rk_group(b, 'golden-mock-848', 'golden-mock-848', protocol='consumer', mock=mk)
        kp_produce(b, 'golden-mock-kp', mock=True)
        kp_group(b, 'golden-mock-kp', 'golden-mock-kp-group', mock=True)
        kcat(b, 'golden-mock')
    finally:
        mk.stop()


# --------------------------------------------------------------------------
# Consumer protocol blobs inside JoinGroup / SyncGroup
# --------------------------------------------------------------------------

def kp_class(name):
    import importlib
    import pkgutil
    import kafka.protocol as p
    if not hasattr(kp_class, 'cache'):
        from kafka.protocol.api_message import ApiMessage
        from kafka.protocol.api_data import ApiData
        cache = {}
        for m in pkgutil.walk_packages(p.__path__, 'kafka.protocol.'):
            if '.old' in m.name or m.name.endswith('generate_stubs'):
                continue
            try:
                mod = importlib.import_module(m.name)
            except Exception:
                continue
            for n, c in vars(mod).items():
                if isinstance(c, type) and issubclass(c, (ApiMessage, ApiData)) \
                        and getattr(c, '_json', None) is not None:
                    cache[n] = c
        kp_class.cache = cache
    return kp_class.cache.get(name)


def split_header(name, direction, version, frame):
    """Returns the body of a recorded frame (kafka-python decides the header shape)."""
    import io
    cls = kp_class(name + ('Request' if direction == 'request' else 'Response'))
    data = io.BytesIO(frame)
    if direction == 'request':
        cls.parse_header(data, version=version)
    else:
        flexible = cls.flexible_version_q(version) and name != 'ApiVersions'
        from kafka.protocol.api_header import ResponseHeader
        ResponseHeader.decode(data, flexible=flexible)
    return frame[data.tell():]


def extract_consumer_protocol(rec):
    out = {}
    for (name, ver, direction, peer), frame in list(rec.frames.items()):
        if peer.endswith('-offline'):
            continue
        blobs = []
        # Only requests: in a response the blob is some client's bytes relayed by the broker.
        if name not in ('JoinGroup', 'SyncGroup') or direction != 'request':
            continue
        try:
            body = split_header(name, direction, ver, frame)
            if name == 'JoinGroup' and direction == 'request':
                msg = kp_class('JoinGroupRequest').decode(body, version=ver)
                if msg.protocol_type == 'consumer':
                    blobs += [('ConsumerProtocolSubscription', bytes(p.metadata)) for p in msg.protocols]
            elif name == 'SyncGroup' and direction == 'request':
                msg = kp_class('SyncGroupRequest').decode(body, version=ver)
                blobs += [('ConsumerProtocolAssignment', bytes(a.assignment)) for a in msg.assignments]
        except Exception as e:
            log('cannot cut consumer protocol out of %s v%d %s: %r' % (name, ver, direction, e))
        for typ, blob in blobs:
            if len(blob) < 2:
                continue
            v = struct.unpack_from('>h', blob)[0]
            key = (typ, v, 'data', peer)
            if key not in out or len(blob) > len(out[key]):
                out[key] = blob
    for k, b in out.items():
        rec.put(k, b)


# --------------------------------------------------------------------------
# Offline vectors (kafka-python's schema encoder)
# --------------------------------------------------------------------------

def crate_versions():
    """api or data type name -> (MIN_VERSION, HIGHEST_SUPPORTED_VERSION) of the crate's
    generated code (src/protocol/messages/*.rs); empty if it is not generated yet."""
    ranges = {}
    msg_dir = os.path.join(ROOT, 'src', 'protocol', 'messages')
    for path in glob.glob(os.path.join(msg_dir, '*.rs')):
        src = open(path).read()
        m = re.search(r'impl\s+Request\s+for\s+(\w+)Request\b', src)
        if m:
            name = m.group(1)
        else:
            m = re.search(r'impl\s+(ConsumerProtocol\w+)\s*\{', src)
            if not m:
                continue
            name = m.group(1)
        mn = re.search(r'pub const MIN_VERSION: i16 = (-?\d+);', src)
        mx = re.search(r'pub const HIGHEST_SUPPORTED_VERSION: i16 = (-?\d+);', src)
        if mn and mx:
            ranges[name] = (int(mn.group(1)), int(mx.group(1)))
    return ranges


def sample_records():
    """A v2 record batch with two records, built by kafka-python's record builder."""
    from kafka.record.memory_records import MemoryRecordsBuilder
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 16)
    b.append(timestamp=1700000000000, key=b'key', value=b'value', headers=[('h', b'v')])
    b.append(timestamp=1700000000001, key=None, value=b'second', headers=[])
    b.close()
    return bytes(b.buffer())


class Filler:
    """Builds a message whose every field holds a non-default sample value."""

    def __init__(self):
        self.n = 0

    def nxt(self):
        self.n += 1
        return self.n

    def value(self, field, version):
        from kafka.protocol.schemas.fields.simple import SimpleField
        from kafka.protocol.schemas.fields.array import ArrayField
        from kafka.protocol.schemas.fields.struct_array import StructArrayField
        from kafka.protocol.schemas.fields.struct import StructField
        from kafka.protocol.schemas.fields import codecs as C
        n = self.nxt()
        if isinstance(field, StructArrayField):
            return [self.struct(field.array_of, version) for _ in range(2)]
        if isinstance(field, StructField):
            return self.struct(field, version)
        if isinstance(field, ArrayField):
            inner = field.array_of
            return [self.value(inner, version) for _ in range(2)]
        assert isinstance(field, SimpleField), field
        t = field.type_str
        if t == 'int8':
            v = 1 + n % 100
        elif t == 'int16':
            v = 100 + n
        elif t == 'uint16':
            v = 40000 + n
        elif t == 'int32':
            v = 100000 + n
        elif t == 'int64':
            v = 10000000000 + n
        elif t == 'float64':
            v = 1.5 + n
        elif t == 'bool':
            v = not field.default
        elif t == 'uuid':
            import uuid
            v = uuid.UUID(int=(0x0102030405060708090a0b0c0d0e0f00 + n))
        elif t == 'string':
            v = '%s-%d' % (field.name, n)
        elif t == 'bytes':
            v = bytes([n % 256, 1, 2, 3])
        elif t == 'records':
            v = sample_records()
        elif t == 'bitfield':
            v = {0, 3, n % 8 + 4}
        else:
            raise ValueError('type %s' % t)
        if v == field.default:
            v = v + 1 if isinstance(v, int) else v
        return v

    def struct(self, sf, version):
        vals = {}
        for f in sf._fields:
            if not f.for_version_q(version):
                continue
            vals[f.name] = self.value(f, version)
        return sf.data_class(version=version, **vals)


def offline_vector(name, direction, version):
    cls = kp_class(name + ('Request' if direction == 'request' else 'Response'))
    if cls is None or not (cls.min_version <= version <= cls.max_version):
        return None
    filler = Filler()
    vals = {}
    for f in cls._struct._fields:
        if f.for_version_q(version):
            vals[f.name] = filler.value(f, version)
    msg = cls(version=version, **vals)
    return bytes(msg.encode(version=version))


def offline_data_vector(name, version):
    cls = kp_class(name)
    if cls is None:
        return None
    lo, hi = cls.valid_versions
    if not lo <= version <= hi:
        return None
    filler = Filler()
    vals = {f.name: filler.value(f, version) for f in cls._struct._fields if f.for_version_q(version)}
    blob = bytes(cls(version=version, **vals).encode(version=version))
    # kafka-python's ApiData.encode writes the int16 version prefix itself.
    assert struct.unpack_from('>h', blob)[0] == version, blob[:4]
    return blob


def run_offline(rec, names):
    ranges = crate_versions()
    have = {(k[0], k[1], k[2]) for k in rec.frames if not k[3].endswith('-offline')}
    made, failed = 0, []
    for name in names:
        for direction in ('request', 'response'):
            cls = kp_class(name + ('Request' if direction == 'request' else 'Response'))
            if cls is None:
                continue
            lo, hi = ranges.get(name, (cls.min_version, cls.max_version))
            lo, hi = max(lo, cls.min_version), min(hi, cls.max_version)
            for v in range(lo, hi + 1):
                if (name, v, direction) in have:
                    continue
                try:
                    blob = offline_vector(name, direction, v)
                except Exception as e:
                    failed.append('%s v%d %s: %r' % (name, v, direction, e))
                    continue
                if blob is not None:
                    rec.put((name, v, direction, 'kafkapython-offline-body'), blob)
                    made += 1
    for name in ('ConsumerProtocolSubscription', 'ConsumerProtocolAssignment'):
        cls = kp_class(name)
        lo, hi = cls.valid_versions
        clo, chi = ranges.get(name, (lo, hi))
        for v in range(max(lo, clo), min(hi, chi) + 1):
            if (name, v, 'data') in have:
                continue
            try:
                rec.put((name, v, 'data', 'kafkapython-offline'), offline_data_vector(name, v))
                made += 1
            except Exception as e:
                failed.append('%s v%d: %r' % (name, v, e))
    log('offline vectors: %d made' % made)
    for f in failed:
        log('offline FAILED', f)


# --------------------------------------------------------------------------

def write_out(rec, clean):
    os.makedirs(OUT_DIR, exist_ok=True)
    if clean:
        for p in glob.glob(os.path.join(OUT_DIR, '*.bin')):
            os.remove(p)
    total = 0
    rows = []
    ranges = crate_versions()
    for (name, ver, direction, peer), frame in sorted(rec.frames.items()):
        if name in ranges and not ranges[name][0] <= ver <= ranges[name][1]:
            log('dropped %s v%d %s from %s: the crate implements v%d-v%d'
                % (name, ver, direction, peer, ranges[name][0], ranges[name][1]))
            continue
        fn = '%s-v%d-%s-%s.bin' % (name, ver, direction, peer)
        with open(os.path.join(OUT_DIR, fn), 'wb') as f:
            f.write(frame)
        total += len(frame)
        rows.append((fn, len(frame)))
    with open(os.path.join(OUT_DIR, 'MANIFEST.txt'), 'w') as f:
        f.write('# file\tbytes (written by tests/golden/capture.py)\n')
        for fn, n in rows:
            f.write('%s\t%d\n' % (fn, n))
    log('wrote %d vectors, %d bytes, to %s' % (len(rows), total, OUT_DIR))
    for key, why in sorted(rec.skipped.items()):
        if key not in rec.frames:
            log('no vector for %s: %s' % (key, why))


def versions_banner():
    out = []
    try:
        import kafka
        out.append('kafka-python %s' % kafka.__version__)
    except ImportError:
        pass
    try:
        import confluent_kafka
        out.append('confluent-kafka %s (librdkafka %s)' % (confluent_kafka.version()[0],
                                                          confluent_kafka.libversion()[0]))
    except ImportError:
        pass
    out.append('tansu %s' % tansu_binary())
    return ', '.join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--offline-only', action='store_true', help='only (re)generate offline vectors')
    ap.add_argument('--no-offline', action='store_true')
    ap.add_argument('--clean', action='store_true', help='delete existing .bin files first')
    ap.add_argument('--max-frame', type=int, default=65536)
    args = ap.parse_args()
    log(versions_banner())
    rec = Recorder(args.max_frame)
    if args.offline_only:
        # keep the existing live vectors; only offline ones are regenerated
        for p in glob.glob(os.path.join(OUT_DIR, '*.bin')):
            m = re.match(r'(\w+)-v(\d+)-(request|response|data)-(.+)\.bin$', os.path.basename(p))
            if m and 'offline' not in m.group(4):
                rec.frames[(m.group(1), int(m.group(2)), m.group(3), m.group(4))] = open(p, 'rb').read()
        for p in glob.glob(os.path.join(OUT_DIR, '*offline*.bin')):
            os.remove(p)
    else:
        run_live(rec)
        extract_consumer_protocol(rec)
    if not args.no_offline:
        run_offline(rec, sorted(API_KEYS))
    write_out(rec, args.clean)


if __name__ == '__main__':
    main()
