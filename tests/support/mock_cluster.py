#!/usr/bin/env python3
"""mock_cluster.py - drive a librdkafka mock cluster from a test harness.

Test helper of the kafka-blocking test suite (used by tests/support/mock.rs).
Derived from the shared mockctl.py reference tool.

Starts an in-process librdkafka mock cluster (real TCP listeners on 127.0.0.1)
using the librdkafka shared library bundled in the confluent_kafka wheel
(or $LIBRDKAFKA / -L PATH, or the system librdkafka.so.1), prints

    BOOTSTRAP 127.0.0.1:p1,127.0.0.1:p2,...

on stdout (lines starting with '#' before it are informational), then reads one
command per line from stdin and answers each with one final line "OK ..." or
"ERR ..." (only `track dump` prints "REQ ..." lines before its final OK line).
End of stdin destroys the cluster and exits, so the process never outlives the
test process that holds the pipe.

Usage:
    mock_cluster.py [-b BROKERS] [-t TOPIC:PARTITIONS[:RF]]... [-L LIBPATH]
                    [-X key=value]...   (extra librdkafka conf for the owning handle)

Commands (broker ids are 1..N; <api> is a name like Produce/Fetch/Metadata or
a numeric ApiKey; <err> is a librdkafka error name such as
NOT_LEADER_FOR_PARTITION (alias NOT_LEADER_OR_FOLLOWER), LEADER_NOT_AVAILABLE,
REQUEST_TIMED_OUT, _TRANSPORT, or a number):
    bootstraps                         "OK host:port,..."
    brokers                            "OK 1,2,3" (ids this helper knows of)
    down <broker>                      close connections, refuse new ones
    up <broker>                        bring broker back
    rtt <broker> <ms>                  add round-trip delay to every response
    rack <broker> <rack>
    create <topic> <partitions> [rf]   rf defaults to min(3, brokers); partition p's
                                       leader is set to broker ids[p % N] (round robin);
                                       answers "OK leaders l0,l1,..."
    delete <topic>
    leader <topic> <partition> <broker>   (-1 = no leader)
    follower <topic> <partition> <broker> preferred replica for fetch-from-follower
    wmarks <topic> <partition> <lo> <hi>  follower watermarks (-1 = track leader)
    errors <api> <count> <err> [<err>...] push errors for the next <count> requests
                                       of <api> on any broker (errors cycle if fewer
                                       than <count> are given)
    broker_errors <broker> <api> <err>[:<rtt_ms>] ...  per-broker error stack
    partition_errors <topic> <partition> <api> <err> ...  per-partition errors
    clear_errors <api>
    topic_error <topic> <err>          error returned for topic in Metadata
    delete_records <topic> <partition> <before_offset>
    coordinator group|transaction <key> <broker>
    apiversion <api> <min> <max>       restrict advertised versions (-1 -1 = disable)
    controller <broker>
    decommission <broker> | add <broker> | unlist <broker> (remove from metadata)
    track start|stop|clear|dump        request tracking; dump prints "REQ ts_us id api"
    sleep <ms>
    quit                               destroy cluster and exit (EOF also quits)
"""
import argparse
import ctypes
import ctypes.util
import glob
import os
import sys
import threading
import time

API_KEYS = {
    'Produce': 0, 'Fetch': 1, 'ListOffsets': 2, 'Metadata': 3, 'LeaderAndIsr': 4,
    'StopReplica': 5, 'UpdateMetadata': 6, 'ControlledShutdown': 7, 'OffsetCommit': 8,
    'OffsetFetch': 9, 'FindCoordinator': 10, 'JoinGroup': 11, 'Heartbeat': 12,
    'LeaveGroup': 13, 'SyncGroup': 14, 'DescribeGroups': 15, 'ListGroups': 16,
    'SaslHandshake': 17, 'ApiVersions': 18, 'CreateTopics': 19, 'DeleteTopics': 20,
    'DeleteRecords': 21, 'InitProducerId': 22, 'OffsetForLeaderEpoch': 23,
    'AddPartitionsToTxn': 24, 'AddOffsetsToTxn': 25, 'EndTxn': 26, 'WriteTxnMarkers': 27,
    'TxnOffsetCommit': 28, 'DescribeAcls': 29, 'CreateAcls': 30, 'DeleteAcls': 31,
    'DescribeConfigs': 32, 'AlterConfigs': 33, 'SaslAuthenticate': 36,
    'CreatePartitions': 37, 'DeleteGroups': 42, 'IncrementalAlterConfigs': 44,
    'OffsetDelete': 47, 'DescribeCluster': 60, 'DescribeProducers': 61,
    'ConsumerGroupHeartbeat': 68, 'ConsumerGroupDescribe': 69,
    'GetTelemetrySubscriptions': 71, 'PushTelemetry': 72, 'DescribeTopicPartitions': 75,
    'ShareGroupHeartbeat': 76, 'ShareFetch': 78, 'ShareAcknowledge': 79,
}
API_NAMES = {v: k for k, v in API_KEYS.items()}
ERR_ALIASES = {'NONE': 'NO_ERROR', 'OK': 'NO_ERROR',
               'NOT_LEADER_OR_FOLLOWER': 'NOT_LEADER_FOR_PARTITION',
               'UNKNOWN_TOPIC_OR_PARTITION': 'UNKNOWN_TOPIC_OR_PART'}


def find_lib(explicit):
    cands = []
    if explicit:
        cands.append(explicit)
    if os.environ.get('LIBRDKAFKA'):
        cands.append(os.environ['LIBRDKAFKA'])
    try:
        import importlib.util
        spec = importlib.util.find_spec('confluent_kafka')
        if spec and spec.origin:
            sp = os.path.dirname(os.path.dirname(spec.origin))
            cands += sorted(glob.glob(os.path.join(sp, 'confluent_kafka.libs', 'librdkafka*.so*')))
            cands += sorted(glob.glob(os.path.join(sp, 'confluent_kafka', '.libs', 'librdkafka*.so*')))
    except Exception:
        pass
    sysl = ctypes.util.find_library('rdkafka')
    if sysl:
        cands.append(sysl)
    cands.append('librdkafka.so.1')
    for c in cands:
        try:
            lib = ctypes.CDLL(c)
            lib.rd_kafka_mock_cluster_new  # must exist
            return lib, c
        except (OSError, AttributeError):
            continue
    sys.exit('mock_cluster: no usable librdkafka found (tried %s); '
             'run: python3 -m pip install -r tests/support/requirements.txt' % cands)


class ErrDesc(ctypes.Structure):
    _fields_ = [('code', ctypes.c_int), ('name', ctypes.c_char_p), ('desc', ctypes.c_char_p)]


class Mock:
    def __init__(self, lib, nbrokers, extra_conf):
        self.lib = L = lib
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        i16, i32, i64, ci = ctypes.c_int16, ctypes.c_int32, ctypes.c_int64, ctypes.c_int

        def sig(name, res, *args):
            f = getattr(L, name)
            f.restype = res
            f.argtypes = list(args)
            return f
        sig('rd_kafka_conf_new', vp)
        sig('rd_kafka_conf_set', ci, vp, cp, cp, cp, sz)
        sig('rd_kafka_new', vp, ci, vp, cp, sz)
        sig('rd_kafka_destroy', None, vp)
        sig('rd_kafka_err2name', cp, ci)
        sig('rd_kafka_version_str', cp)
        L.rd_kafka_get_err_descs.restype = None
        L.rd_kafka_get_err_descs.argtypes = [ctypes.POINTER(ctypes.POINTER(ErrDesc)), ctypes.POINTER(sz)]
        sig('rd_kafka_mock_cluster_new', vp, vp, ci)
        sig('rd_kafka_mock_cluster_destroy', None, vp)
        sig('rd_kafka_mock_cluster_bootstraps', cp, vp)
        sig('rd_kafka_mock_topic_create', ci, vp, cp, ci, ci)
        sig('rd_kafka_mock_topic_delete', ci, vp, cp)
        sig('rd_kafka_mock_topic_set_error', None, vp, cp, ci)
        sig('rd_kafka_mock_broker_set_down', ci, vp, i32)
        sig('rd_kafka_mock_broker_set_up', ci, vp, i32)
        sig('rd_kafka_mock_broker_set_rtt', ci, vp, i32, ci)
        sig('rd_kafka_mock_broker_set_rack', ci, vp, i32, cp)
        sig('rd_kafka_mock_broker_decommission', ci, vp, i32)
        sig('rd_kafka_mock_broker_add', ci, vp, i32)
        sig('rd_kafka_mock_broker_remove_from_metadata', ci, vp, i32)
        sig('rd_kafka_mock_partition_set_leader', ci, vp, cp, i32, i32)
        sig('rd_kafka_mock_partition_set_follower', ci, vp, cp, i32, i32)
        sig('rd_kafka_mock_partition_set_follower_wmarks', ci, vp, cp, i32, i64, i64)
        sig('rd_kafka_mock_partition_delete_records', ci, vp, cp, i32, i64)
        sig('rd_kafka_mock_push_request_errors_array', None, vp, i16, sz, ctypes.POINTER(ci))
        sig('rd_kafka_mock_clear_request_errors', None, vp, i16)
        sig('rd_kafka_mock_coordinator_set', ci, vp, cp, cp, i32)
        sig('rd_kafka_mock_set_apiversion', ci, vp, i16, i16, i16)
        if hasattr(L, 'rd_kafka_mock_set_controller_id'):
            sig('rd_kafka_mock_set_controller_id', None, vp, i32)
        sig('rd_kafka_mock_start_request_tracking', None, vp)
        sig('rd_kafka_mock_stop_request_tracking', None, vp)
        sig('rd_kafka_mock_clear_requests', None, vp)
        sig('rd_kafka_mock_get_requests', ctypes.POINTER(vp), vp, ctypes.POINTER(sz))
        sig('rd_kafka_mock_request_api_key', i16, vp)
        sig('rd_kafka_mock_request_id', i32, vp)
        sig('rd_kafka_mock_request_timestamp', i64, vp)
        sig('rd_kafka_mock_request_destroy_array', None, ctypes.POINTER(vp), sz)
        # variadic: leave argtypes unset, pass ctypes-typed fixed args explicitly
        self._broker_err_rtts = L.rd_kafka_mock_broker_push_request_error_rtts
        self._broker_err_rtts.restype = ci
        self._part_errs = L.rd_kafka_mock_partition_push_request_errors
        self._part_errs.restype = ci

        descs = ctypes.POINTER(ErrDesc)()
        cnt = sz()
        L.rd_kafka_get_err_descs(ctypes.byref(descs), ctypes.byref(cnt))
        self.errs = {}
        for i in range(cnt.value):
            d = descs[i]
            if d.name:
                self.errs[d.name.decode()] = d.code

        conf = L.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        for k, v in [('client.id', 'mock_cluster'), ('log_level', '4')] + extra_conf:
            if L.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) != 0:
                sys.exit('mock_cluster: conf %s: %s' % (k, errstr.value.decode()))
        self.rk = L.rd_kafka_new(0, conf, errstr, 512)  # RD_KAFKA_PRODUCER
        if not self.rk:
            sys.exit('mock_cluster: rd_kafka_new: ' + errstr.value.decode())
        self.mc = L.rd_kafka_mock_cluster_new(self.rk, nbrokers)
        if not self.mc:
            sys.exit('mock_cluster: rd_kafka_mock_cluster_new failed')
        self.broker_ids = list(range(1, nbrokers + 1))

    # helpers -----------------------------------------------------------
    def err(self, s):
        if s.lstrip('-').isdigit():
            return int(s)
        n = s.upper()
        n = ERR_ALIASES.get(n, n)
        for cand in (n, n.lstrip('_'), '_' + n):
            if cand in self.errs:
                return self.errs[cand]
        raise ValueError('unknown error name %r' % s)

    def api(self, s):
        if s.isdigit():
            return int(s)
        for k, v in API_KEYS.items():
            if k.lower() == s.lower() or k.lower() + 'request' == s.lower():
                return v
        if s.lower() == 'apiversion':
            return 18
        raise ValueError('unknown api %r' % s)

    def check(self, rc):
        if rc != 0:
            raise RuntimeError('%s (%d)' % (self.lib.rd_kafka_err2name(rc).decode(), rc))

    def bootstraps(self):
        return self.lib.rd_kafka_mock_cluster_bootstraps(self.mc).decode()

    def create(self, topic, partitions, rf=None):
        if rf is None:
            rf = min(3, len(self.broker_ids))
        self.check(self.lib.rd_kafka_mock_topic_create(self.mc, topic.encode(), partitions, rf))
        # The mock picks leaders at random; make them deterministic and spread.
        leaders = []
        for p in range(partitions):
            b = self.broker_ids[p % len(self.broker_ids)]
            self.check(self.lib.rd_kafka_mock_partition_set_leader(self.mc, topic.encode(), p, b))
            leaders.append(b)
        return leaders

    def destroy(self):
        self.lib.rd_kafka_mock_cluster_destroy(self.mc)
        self.lib.rd_kafka_destroy(self.rk)

    # command dispatcher ------------------------------------------------
    def run(self, line):
        a = line.split()
        if not a or a[0].startswith('#'):
            return 'OK'
        c, L, mc = a[0].lower(), self.lib, self.mc
        I = int
        if c == 'bootstraps':
            return 'OK ' + self.bootstraps()
        if c == 'brokers':
            return 'OK ' + ','.join(map(str, self.broker_ids))
        if c == 'down':
            self.check(L.rd_kafka_mock_broker_set_down(mc, I(a[1])))
        elif c == 'up':
            self.check(L.rd_kafka_mock_broker_set_up(mc, I(a[1])))
        elif c == 'rtt':
            self.check(L.rd_kafka_mock_broker_set_rtt(mc, I(a[1]), I(a[2])))
        elif c == 'rack':
            self.check(L.rd_kafka_mock_broker_set_rack(mc, I(a[1]), a[2].encode()))
        elif c == 'leader':
            self.check(L.rd_kafka_mock_partition_set_leader(mc, a[1].encode(), I(a[2]), I(a[3])))
        elif c == 'follower':
            self.check(L.rd_kafka_mock_partition_set_follower(mc, a[1].encode(), I(a[2]), I(a[3])))
        elif c == 'wmarks':
            self.check(L.rd_kafka_mock_partition_set_follower_wmarks(mc, a[1].encode(), I(a[2]), I(a[3]), I(a[4])))
        elif c == 'errors':
            api, cnt = self.api(a[1]), I(a[2])
            names = a[3:] or ['REQUEST_TIMED_OUT']
            codes = [self.err(names[i % len(names)]) for i in range(cnt)]
            arr = (ctypes.c_int * cnt)(*codes)
            L.rd_kafka_mock_push_request_errors_array(mc, api, cnt, arr)
            return 'OK pushed %d x %s: %s' % (cnt, API_NAMES.get(api, api), ','.join(map(str, codes)))
        elif c == 'broker_errors':
            bid, api = I(a[1]), self.api(a[2])
            pairs = []
            for item in a[3:]:
                e, _, r = item.partition(':')
                pairs += [ctypes.c_int(self.err(e)), ctypes.c_int(I(r or 0))]
            self.check(self._broker_err_rtts(ctypes.c_void_p(mc), ctypes.c_int32(bid), ctypes.c_int16(api),
                                             ctypes.c_size_t(len(pairs) // 2), *pairs))
        elif c == 'partition_errors':
            topic, part, api = a[1], I(a[2]), self.api(a[3])
            errs = [ctypes.c_int(self.err(e)) for e in a[4:]]
            self.check(self._part_errs(ctypes.c_void_p(mc), ctypes.c_char_p(topic.encode()), ctypes.c_int32(part),
                                       ctypes.c_int16(api), ctypes.c_size_t(len(errs)), *errs))
        elif c == 'clear_errors':
            L.rd_kafka_mock_clear_request_errors(mc, self.api(a[1]))
        elif c == 'topic_error':
            L.rd_kafka_mock_topic_set_error(mc, a[1].encode(), self.err(a[2]))
        elif c == 'create':
            leaders = self.create(a[1], I(a[2]), I(a[3]) if len(a) > 3 else None)
            return 'OK leaders ' + ','.join(map(str, leaders))
        elif c == 'delete':
            self.check(L.rd_kafka_mock_topic_delete(mc, a[1].encode()))
        elif c == 'delete_records':
            self.check(L.rd_kafka_mock_partition_delete_records(mc, a[1].encode(), I(a[2]), I(a[3])))
        elif c == 'coordinator':
            self.check(L.rd_kafka_mock_coordinator_set(mc, a[1].encode(), a[2].encode(), I(a[3])))
        elif c == 'apiversion':
            self.check(L.rd_kafka_mock_set_apiversion(mc, self.api(a[1]), I(a[2]), I(a[3])))
        elif c == 'controller':
            if not hasattr(L, 'rd_kafka_mock_set_controller_id'):
                raise RuntimeError('this librdkafka has no rd_kafka_mock_set_controller_id')
            L.rd_kafka_mock_set_controller_id(mc, I(a[1]))
        elif c == 'decommission':
            self.check(L.rd_kafka_mock_broker_decommission(mc, I(a[1])))
            if I(a[1]) in self.broker_ids:
                self.broker_ids.remove(I(a[1]))
        elif c == 'add':
            self.check(L.rd_kafka_mock_broker_add(mc, I(a[1])))
            if I(a[1]) not in self.broker_ids:
                self.broker_ids.append(I(a[1]))
        elif c == 'unlist':
            self.check(L.rd_kafka_mock_broker_remove_from_metadata(mc, I(a[1])))
        elif c == 'track':
            sub = a[1].lower()
            if sub == 'start':
                L.rd_kafka_mock_start_request_tracking(mc)
            elif sub == 'stop':
                L.rd_kafka_mock_stop_request_tracking(mc)
            elif sub == 'clear':
                L.rd_kafka_mock_clear_requests(mc)
            elif sub == 'dump':
                n = ctypes.c_size_t()
                reqs = L.rd_kafka_mock_get_requests(mc, ctypes.byref(n))
                out = []
                for i in range(n.value):
                    k = L.rd_kafka_mock_request_api_key(reqs[i])
                    out.append('REQ %d %d %s' % (L.rd_kafka_mock_request_timestamp(reqs[i]),
                                                 L.rd_kafka_mock_request_id(reqs[i]), API_NAMES.get(k, k)))
                if n.value:
                    L.rd_kafka_mock_request_destroy_array(reqs, n)
                return '\n'.join(out + ['OK %d requests' % n.value])
            else:
                raise ValueError('track start|stop|clear|dump')
        elif c == 'sleep':
            time.sleep(I(a[1]) / 1000.0)
        elif c in ('quit', 'exit'):
            raise SystemExit(0)
        else:
            raise ValueError('unknown command %r' % c)
        return 'OK'


def hard_exit_later(seconds):
    """Make sure the process ends even if tearing the cluster down hangs."""
    t = threading.Timer(seconds, lambda: os._exit(0))
    t.daemon = True
    t.start()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-b', '--brokers', type=int, default=3)
    ap.add_argument('-t', '--topic', action='append', default=[], help='TOPIC:PARTITIONS[:RF]')
    ap.add_argument('-L', '--lib', default=None)
    ap.add_argument('-X', action='append', default=[], help='librdkafka conf key=value for owning handle')
    args = ap.parse_args()
    if args.brokers < 1:
        sys.exit('mock_cluster: need at least one broker')
    lib, path = find_lib(args.lib)
    extra = [tuple(x.split('=', 1)) for x in args.X]
    m = Mock(lib, args.brokers, extra)
    try:
        for t in args.topic:
            parts = t.split(':')
            m.create(parts[0], int(parts[1]) if len(parts) > 1 else 1,
                     int(parts[2]) if len(parts) > 2 else None)
        print('# librdkafka %s (%s)' % (lib.rd_kafka_version_str().decode(), path), flush=True)
        print('BOOTSTRAP ' + m.bootstraps(), flush=True)
        while True:
            line = sys.stdin.readline()
            if not line:  # EOF: the test process went away (or closed the pipe)
                break
            try:
                print(m.run(line.strip()), flush=True)
            except SystemExit:
                print('OK bye', flush=True)
                break
            except IndexError:
                print('ERR %s: missing argument (see usage in mock_cluster.py)' % line.split()[0], flush=True)
            except Exception as e:
                print('ERR %s' % (str(e).replace('\n', ' ') or type(e).__name__), flush=True)
    except BrokenPipeError:
        pass
    finally:
        hard_exit_later(5.0)
        m.destroy()
    os._exit(0)


if __name__ == '__main__':
    main()
