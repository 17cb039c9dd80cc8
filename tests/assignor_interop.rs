//! The partition assignors and the `ConsumerProtocol` bytes against other
//! clients.
//!
//! - kafka-python's `range` and `roundrobin` assignors give the same
//!   assignment as ours for many random groups (kafka-python's `sticky` is a
//!   port of an older Java algorithm, so for it only fresh assignments with
//!   equal subscriptions are compared, and the validity of ours elsewhere).
//! - Subscription and assignment bytes, at every version, are byte-identical
//!   to kafka-python's for the same content, and each side decodes the other's;
//!   so are the sticky assignor's user data (`StickyAssignorUserData`).
//! - Our reproduction of `java.util.HashMap`'s iteration order (which the
//!   sticky assignors rely on to match Java) is checked against the real one
//!   when a `java` launcher is on the PATH.
//!
//! Needs Python 3 with kafka-python (`tests/support/requirements.txt`); the
//! interpreter is `$KAFKA_BLOCKING_PYTHON` or `python3`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use kafka_blocking::consumer::assignor::{
    Assignment, CooperativeStickyAssignor, GroupAssignment, MemberSubscription, PartitionAssignor,
    RangeAssignor, RoundRobinAssignor, StickyAssignor, Subscription, decode_assignment,
    decode_sticky_user_data, decode_subscription, encode_assignment, encode_sticky_user_data,
    encode_subscription, java_hash_map_order,
};

// ---------------------------------------------------------------------------
// Helpers

fn python() -> String {
    std::env::var("KAFKA_BLOCKING_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs `script` with `python -c`, `input` on its stdin; returns its stdout.
fn run_python(script: &str, input: &str) -> String {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (set KAFKA_BLOCKING_PYTHON)", python()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed ({}):\n{}\n(kafka-python comes from `pip install -r tests/support/requirements.txt`)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// SplitMix64, for reproducible random groups.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A JSON string (our strings are plain ASCII).
fn js(s: &str) -> String {
    assert!(s.is_ascii() && !s.contains(['"', '\\']));
    format!("\"{s}\"")
}

fn js_list<T>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> String) -> String {
    let v: Vec<String> = items.into_iter().map(f).collect();
    format!("[{}]", v.join(","))
}

/// "t:0,t:1" for a member's partitions, sorted.
fn flat(parts: &[(String, i32)]) -> String {
    let mut v = parts.to_vec();
    v.sort();
    v.iter()
        .map(|(t, p)| format!("{t}:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------
// The assignors against kafka-python's

const KAFKA_PYTHON_ASSIGNORS: &str = r#"
import sys, json
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription

class Cluster:
    def __init__(self, partitions):
        self.partitions = partitions
    def partitions_for_topic(self, topic):
        n = self.partitions.get(topic)
        return None if n is None else set(range(n))
    def topics(self):
        return set(self.partitions)

class Member:
    def __init__(self, member_id, group_instance_id, metadata):
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.metadata = metadata

for i, case in enumerate(json.load(sys.stdin)):
    cluster = Cluster(case['partitions'])
    members = [Member(m['id'], m['instance'],
                      ConsumerProtocolSubscription(version=0, topics=m['topics'], user_data=b''))
               for m in case['members']]
    for name in case['assignors']:
        assignor = {'range': RangePartitionAssignor, 'roundrobin': RoundRobinPartitionAssignor,
                    'sticky': StickyPartitionAssignor()}[name]
        try:
            result = assignor.assign(cluster, members)
        except Exception as e:
            print(i, name, '!error', type(e).__name__)
            continue
        for member_id in sorted(result):
            parts = sorted((tp.topic, tp.partition) for tp in result[member_id].partitions())
            print(i, name, member_id, ','.join('%s:%d' % p for p in parts))
"#;

struct Case {
    partitions: BTreeMap<String, i32>,
    members: Vec<MemberSubscription>,
    assignors: Vec<&'static str>,
}

impl Case {
    fn json(&self) -> String {
        let partitions = self
            .partitions
            .iter()
            .map(|(t, n)| format!("{}:{n}", js(t)))
            .collect::<Vec<_>>()
            .join(",");
        let members = js_list(&self.members, |m| {
            format!(
                "{{\"id\":{},\"instance\":{},\"topics\":{}}}",
                js(&m.member_id),
                m.group_instance_id.as_deref().map_or("null".to_owned(), js),
                js_list(&m.topics, |t| js(t))
            )
        });
        format!(
            "{{\"partitions\":{{{partitions}}},\"members\":{members},\"assignors\":{}}}",
            js_list(&self.assignors, |a| js(a))
        )
    }
}

/// A random group: a few topics (some with no partitions, some members
/// subscribing to a topic that does not exist), members with random ids,
/// static ones (with a `group.instance.id`) first, as kafka-python needs them
/// grouped.
fn random_case(rng: &mut Rng, equal_subscriptions: bool) -> Case {
    let topics: Vec<String> = (0..1 + rng.below(6))
        .map(|i| format!("topic-{}{i}", (b'a' + rng.below(26) as u8) as char))
        .collect();
    let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
    for t in &topics {
        if !rng.chance(10) {
            partitions.insert(t.clone(), rng.below(13) as i32);
        }
    }
    let all: Vec<String> = topics.clone();
    let n = 1 + rng.below(9);
    let statics = if rng.chance(30) { rng.below(n + 1) } else { 0 };
    let members = (0..n)
        .map(|i| {
            let subscription: Vec<String> = if equal_subscriptions {
                all.clone()
            } else {
                let mut s: Vec<String> = all.iter().filter(|_| rng.chance(60)).cloned().collect();
                if s.is_empty() {
                    s.push(all[rng.below(all.len())].clone());
                }
                s
            };
            let mut m = MemberSubscription::new(
                format!("consumer-{}-{i}", rng.below(10_000)),
                subscription,
            );
            if i < statics {
                m.group_instance_id = Some(format!("instance-{}-{i}", rng.below(10_000)));
            }
            m
        })
        .collect();
    Case {
        partitions,
        members,
        assignors: Vec::new(),
    }
}

/// Runs the cases through kafka-python: (case, assignor) → member → "t:p,..."
/// (or `None` where kafka-python raised).
fn kafka_python_assign(
    cases: &[Case],
) -> BTreeMap<(usize, String), Option<BTreeMap<String, String>>> {
    let input = js_list(cases, Case::json);
    let mut out: BTreeMap<(usize, String), Option<BTreeMap<String, String>>> = BTreeMap::new();
    for line in run_python(KAFKA_PYTHON_ASSIGNORS, &input).lines() {
        let mut f = line.splitn(4, ' ');
        let (i, name, member) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let key = (i.parse().unwrap(), name.to_owned());
        if member == "!error" {
            out.insert(key, None);
        } else {
            let parts = f.next().unwrap_or("").to_owned();
            out.entry(key)
                .or_insert_with(|| Some(BTreeMap::new()))
                .as_mut()
                .unwrap()
                .insert(member.to_owned(), parts);
        }
    }
    out
}

fn ours(a: &GroupAssignment) -> BTreeMap<String, String> {
    a.iter()
        .map(|(m, x)| (m.clone(), flat(&x.partitions)))
        .collect()
}

#[test]
fn range_and_roundrobin_match_kafka_python() {
    let mut rng = Rng(2024);
    let mut cases = Vec::new();
    for i in 0..400 {
        let mut case = random_case(&mut rng, i % 3 == 0);
        case.assignors = vec!["range", "roundrobin"];
        cases.push(case);
    }
    let theirs = kafka_python_assign(&cases);
    let mut compared = [0usize; 2];
    for (i, case) in cases.iter().enumerate() {
        let results: [(&str, &dyn PartitionAssignor); 2] = [
            ("range", &RangeAssignor),
            ("roundrobin", &RoundRobinAssignor),
        ];
        for (k, (name, assignor)) in results.into_iter().enumerate() {
            let mine = ours(&assignor.assign(&case.partitions, &case.members));
            match &theirs[&(i, name.to_owned())] {
                Some(t) => {
                    assert_eq!(&mine, t, "{name}, case {i}: {}", case.json());
                    compared[k] += 1;
                }
                // kafka-python's roundrobin raises when it has to skip a
                // member not subscribed to a topic (it loses track of the
                // member id); Java's, and ours, skip it.
                None => assert_eq!(name, "roundrobin", "case {i}: {}", case.json()),
            }
        }
    }
    assert_eq!(compared[0], cases.len());
    assert!(
        compared[1] >= cases.len() / 3,
        "roundrobin compared on {} cases only",
        compared[1]
    );
}

#[test]
fn sticky_fresh_assignment_matches_kafka_python_with_equal_subscriptions() {
    // kafka-python's sticky assignor is a port of Java's pre-2.4 algorithm;
    // from nothing owned, with equal subscriptions, both deal the partitions
    // round robin in (topic, partition) order.
    let mut rng = Rng(77);
    let mut cases = Vec::new();
    for _ in 0..200 {
        let mut case = random_case(&mut rng, true);
        for m in &mut case.members {
            m.group_instance_id = None;
        }
        case.assignors = vec!["sticky"];
        cases.push(case);
    }
    let theirs = kafka_python_assign(&cases);
    for (i, case) in cases.iter().enumerate() {
        let expected = theirs[&(i, "sticky".to_owned())]
            .as_ref()
            .expect("kafka-python sticky ran");
        for a in [
            StickyAssignor::new().assign(&case.partitions, &case.members),
            CooperativeStickyAssignor::new().assign(&case.partitions, &case.members),
        ] {
            assert_eq!(&ours(&a), expected, "case {i}: {}", case.json());
        }
    }
}

// ---------------------------------------------------------------------------
// Bytes against kafka-python's

const KAFKA_PYTHON_CODEC: &str = r#"
import sys
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription as S, ConsumerProtocolAssignment as A
from kafka.coordinator.assignors.sticky.user_data import StickyAssignorUserData as U

def parts(s):
    out = []
    for item in filter(None, s.split(',')):
        t, p = item.rsplit(':', 1)
        if out and out[-1][0] == t:
            out[-1][1].append(int(p))
        else:
            out.append((t, [int(p)]))
    return out

def flat(groups):
    return ','.join('%s:%d' % (g.topic, p) for g in groups for p in g.partitions)

def opt_bytes(s):
    return None if s == '~' else bytes.fromhex(s[1:])

def show_bytes(b):
    return '~' if b is None else 'x' + b.hex()

# Each input line: a command and its fields, separated by '|'.
for line in sys.stdin:
    f = line.rstrip('\n').split('|')
    cmd = f[0]
    if cmd == 'encode-sub':
        v, topics, user_data, owned, generation, rack = f[1:]
        kw = dict(version=int(v), topics=list(filter(None, topics.split(','))), user_data=opt_bytes(user_data))
        if int(v) >= 1:
            kw['owned_partitions'] = [S.TopicPartition(topic=t, partitions=ps) for t, ps in parts(owned)]
        if int(v) >= 2:
            kw['generation_id'] = int(generation)
        if int(v) >= 3:
            kw['rack_id'] = None if rack == '~' else rack[1:]
        print(S(**kw).encode().hex())
    elif cmd == 'decode-sub':
        d = S.decode(bytes.fromhex(f[1]))
        owned = getattr(d, 'owned_partitions', None) or []
        generation = getattr(d, 'generation_id', -1)
        rack = getattr(d, 'rack_id', None)
        print('|'.join([str(d.version), ','.join(d.topics), show_bytes(d.user_data), flat(owned),
                        str(generation), '~' if rack is None else 'x' + rack]))
    elif cmd == 'encode-asg':
        v, assigned, user_data = f[1:]
        a = A(version=int(v), assigned_partitions=[A.TopicPartition(topic=t, partitions=ps) for t, ps in parts(assigned)],
              user_data=opt_bytes(user_data))
        print(a.encode().hex())
    elif cmd == 'decode-asg':
        d = A.decode(bytes.fromhex(f[1]))
        print('|'.join([str(d.version), flat(d.assigned_partitions), show_bytes(d.user_data)]))
    elif cmd == 'encode-sticky':
        previous, generation = f[1:]
        u = U(previous_assignment=parts(previous), generation=int(generation))
        print(u.encode(version=1, header=False).hex() + '|' + u.encode(version=1).hex())
    elif cmd == 'decode-sticky':
        d = U.decode(bytes.fromhex(f[1]), version=1, header=False)
        print(flat(d.previous_assignment) + '|' + str(d.generation))
    else:
        raise SystemExit('unknown command ' + cmd)
"#;

fn opt_bytes(b: &Option<Vec<u8>>) -> String {
    b.as_ref()
        .map_or("~".to_owned(), |b| format!("x{}", hex(b)))
}

/// Partitions as "t:p,..." in the given order.
fn in_order(parts: &[(String, i32)]) -> String {
    parts
        .iter()
        .map(|(t, p)| format!("{t}:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn random_partitions(rng: &mut Rng, topics: &[String]) -> Vec<(String, i32)> {
    let mut v = Vec::new();
    for t in topics {
        if rng.chance(60) {
            for p in 0..rng.below(6) as i32 {
                if rng.chance(70) {
                    v.push((t.clone(), p * 3 + rng.below(3) as i32));
                }
            }
        }
    }
    v.dedup();
    v
}

fn random_subscription(rng: &mut Rng) -> Subscription {
    let pool: Vec<String> = (0..1 + rng.below(5))
        .map(|i| format!("t{}{}", (b'a' + rng.below(26) as u8) as char, i))
        .collect();
    let mut topics: Vec<String> = pool.iter().filter(|_| rng.chance(70)).cloned().collect();
    topics.sort();
    let mut owned = random_partitions(rng, &pool);
    owned.sort();
    Subscription {
        topics,
        user_data: match rng.below(3) {
            0 => None,
            1 => Some(Vec::new()),
            _ => Some((0..rng.below(9)).map(|_| rng.below(256) as u8).collect()),
        },
        owned_partitions: owned,
        generation: if rng.chance(30) {
            -1
        } else {
            rng.below(100) as i32
        },
        rack: match rng.below(3) {
            0 => None,
            _ => Some(format!("rack-{}", rng.below(5))),
        },
    }
}

/// The part of a subscription that `version` carries.
fn at_version(s: &Subscription, version: i16) -> Subscription {
    Subscription {
        topics: s.topics.clone(),
        user_data: s.user_data.clone(),
        owned_partitions: if version >= 1 {
            s.owned_partitions.clone()
        } else {
            Vec::new()
        },
        generation: if version >= 2 { s.generation } else { -1 },
        rack: if version >= 3 { s.rack.clone() } else { None },
    }
}

#[test]
fn subscription_bytes_match_kafka_python() {
    let mut rng = Rng(5);
    let subs: Vec<(i16, Subscription)> = (0..200)
        .map(|i| ((i % 4) as i16, random_subscription(&mut rng)))
        .collect();

    // kafka-python encodes the same content to the same bytes.
    let input: String = subs
        .iter()
        .map(|(v, s)| {
            format!(
                "encode-sub|{v}|{}|{}|{}|{}|{}\n",
                s.topics.join(","),
                opt_bytes(&s.user_data),
                in_order(&s.owned_partitions),
                s.generation,
                s.rack.as_ref().map_or("~".to_owned(), |r| format!("x{r}"))
            )
        })
        .collect();
    let theirs: Vec<String> = run_python(KAFKA_PYTHON_CODEC, &input)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(theirs.len(), subs.len());
    for ((v, s), their_hex) in subs.iter().zip(&theirs) {
        let mine = encode_subscription(s, *v).unwrap();
        assert_eq!(hex(&mine), *their_hex, "v{v} {s:?}");
        // And we read theirs.
        assert_eq!(
            decode_subscription(&unhex(their_hex)).unwrap(),
            at_version(s, *v)
        );
    }

    // kafka-python reads ours, including a version newer than it knows
    // (read as its highest, the fields after ignored, as Java does).
    let mut ours_hex = Vec::new();
    for (v, s) in &subs {
        let mut b = encode_subscription(s, *v).unwrap();
        if *v == 3 && rng.chance(50) {
            b[1] = 4;
            b.extend_from_slice(&[0, 0, 0, 7]);
            assert_eq!(decode_subscription(&b).unwrap(), at_version(s, 3));
        }
        ours_hex.push(hex(&b));
    }
    let input: String = ours_hex
        .iter()
        .map(|h| format!("decode-sub|{h}\n"))
        .collect();
    let decoded = run_python(KAFKA_PYTHON_CODEC, &input);
    for ((v, s), line) in subs.iter().zip(decoded.lines()) {
        let s = at_version(s, *v);
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[0].parse::<i16>().unwrap(), *v);
        assert_eq!(f[1], s.topics.join(","));
        assert_eq!(f[2], opt_bytes(&s.user_data));
        assert_eq!(f[3], in_order(&s.owned_partitions));
        assert_eq!(f[4], s.generation.to_string());
        assert_eq!(
            f[5],
            s.rack.as_ref().map_or("~".to_owned(), |r| format!("x{r}"))
        );
    }
}

#[test]
fn kafka_python_member_metadata_decodes() {
    // What kafka-python's assignors put in JoinGroup.
    let script = r#"
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.structs import TopicPartition as TP
print(RangePartitionAssignor.metadata(['t2', 't1']).encode().hex())
c = CooperativeStickyAssignor()
c.member_assignment = [TP('t1', 3), TP('t1', 0), TP('t2', 1)]
print(c.metadata({'t1', 't2'}).encode().hex())
print(StickyPartitionAssignor._metadata(['t1'], [TP('t1', 2), TP('t1', 0)], 9).encode().hex())
"#;
    let out = run_python(script, "");
    let lines: Vec<Vec<u8>> = out.lines().map(unhex).collect();
    let range = decode_subscription(&lines[0]).unwrap();
    assert_eq!(range.topics, ["t2", "t1"]);
    assert_eq!(range.user_data, Some(Vec::new()));
    let coop = decode_subscription(&lines[1]).unwrap();
    assert_eq!(coop.topics, ["t1", "t2"]);
    let mut owned = coop.owned_partitions.clone();
    owned.sort();
    assert_eq!(
        owned,
        [("t1".into(), 0), ("t1".into(), 3), ("t2".into(), 1)]
    );
    assert_eq!(coop.generation, -1);
    // kafka-python 3 writes the sticky user data with a version prefix, which
    // Java cannot read; we read it.
    let sticky = decode_subscription(&lines[2]).unwrap();
    let data = decode_sticky_user_data(sticky.user_data.as_deref().unwrap()).unwrap();
    assert_eq!(data.partitions, [("t1".into(), 2), ("t1".into(), 0)]);
    assert_eq!(data.generation, Some(9));
}

#[test]
fn assignment_bytes_match_kafka_python() {
    let mut rng = Rng(9);
    let cases: Vec<(i16, Assignment)> = (0..150)
        .map(|i| {
            let topics: Vec<String> = (0..rng.below(5)).map(|k| format!("topic{k}")).collect();
            // Grouped by topic, as both write them.
            let partitions = random_partitions(&mut rng, &topics);
            let user_data = match rng.below(3) {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(vec![rng.below(256) as u8; rng.below(5)]),
            };
            (
                (i % 4) as i16,
                Assignment {
                    partitions,
                    user_data,
                },
            )
        })
        .collect();
    let input: String = cases
        .iter()
        .map(|(v, a)| {
            format!(
                "encode-asg|{v}|{}|{}\n",
                in_order(&a.partitions),
                opt_bytes(&a.user_data)
            )
        })
        .collect();
    let theirs = run_python(KAFKA_PYTHON_CODEC, &input);
    let mut decode_input = String::new();
    for ((v, a), their_hex) in cases.iter().zip(theirs.lines()) {
        let mine = encode_assignment(a, *v).unwrap();
        assert_eq!(hex(&mine), their_hex, "v{v} {a:?}");
        assert_eq!(decode_assignment(&unhex(their_hex)).unwrap(), *a);
        let mut newer = mine.clone();
        newer[1] = 9;
        newer.push(0);
        assert_eq!(decode_assignment(&newer).unwrap(), *a);
        decode_input.push_str(&format!("decode-asg|{}\n", hex(&newer)));
    }
    let decoded = run_python(KAFKA_PYTHON_CODEC, &decode_input);
    for ((_, a), line) in cases.iter().zip(decoded.lines()) {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[0], "3", "a newer version is read as 3");
        assert_eq!(f[1], in_order(&a.partitions));
        assert_eq!(f[2], opt_bytes(&a.user_data));
    }
}

#[test]
fn sticky_user_data_matches_kafka_python() {
    let mut rng = Rng(11);
    let topics: Vec<String> = (0..12).map(|i| format!("orders-{i}")).collect();
    let cases: Vec<(Vec<(String, i32)>, i32)> = (0..100)
        .map(|_| {
            (
                random_partitions(&mut rng, &topics),
                rng.below(50) as i32 - 1,
            )
        })
        .collect();
    // Ours, in Java's topic order; kafka-python writes topics in the order
    // given, so it is given ours.
    let mut ours_bytes = Vec::new();
    let mut input = String::new();
    for (parts, generation) in &cases {
        let b = encode_sticky_user_data(parts, *generation).unwrap();
        let d = decode_sticky_user_data(&b).unwrap();
        assert_eq!(d.generation, Some(*generation));
        let mut sorted = d.partitions.clone();
        sorted.sort();
        let mut expected = parts.clone();
        expected.sort();
        assert_eq!(sorted, expected);
        input.push_str(&format!(
            "encode-sticky|{}|{generation}\n",
            in_order(&d.partitions)
        ));
        ours_bytes.push(b);
    }
    let theirs = run_python(KAFKA_PYTHON_CODEC, &input);
    let mut decode_input = String::new();
    for (((parts, generation), mine), line) in cases.iter().zip(&ours_bytes).zip(theirs.lines()) {
        let (plain, prefixed) = line.split_once('|').unwrap();
        assert_eq!(hex(mine), plain);
        for theirs in [plain, prefixed] {
            let d = decode_sticky_user_data(&unhex(theirs)).unwrap();
            let mut got = d.partitions.clone();
            got.sort();
            let mut expected = parts.clone();
            expected.sort();
            assert_eq!((got, d.generation), (expected, Some(*generation)));
        }
        decode_input.push_str(&format!("decode-sticky|{}\n", hex(mine)));
    }
    let decoded = run_python(KAFKA_PYTHON_CODEC, &decode_input);
    for (mine, line) in ours_bytes.iter().zip(decoded.lines()) {
        let d = decode_sticky_user_data(mine).unwrap();
        assert_eq!(
            line,
            format!("{}|{}", in_order(&d.partitions), d.generation.unwrap())
        );
    }
}

// ---------------------------------------------------------------------------
// java.util.HashMap iteration order, against the real one

#[test]
fn hash_map_order_matches_java() {
    let Ok(version) = Command::new("java").arg("-version").output() else {
        eprintln!("no java launcher on the PATH: skipped");
        return;
    };
    if !version.status.success() {
        eprintln!("java -version failed: skipped");
        return;
    }
    let mut rng = Rng(13);
    // Key sets of many sizes (crossing resize thresholds), some with
    // deliberately colliding hashes ("Aa" and "BB" hash alike).
    let mut sets: Vec<Vec<String>> = Vec::new();
    for i in 0..60 {
        let n = 1 + rng.below(if i % 3 == 0 { 120 } else { 20 });
        let keys: Vec<String> = (0..n)
            .map(|k| match rng.below(4) {
                0 => format!("consumer-{}-{:08x}-{k}", rng.below(5), rng.next() as u32),
                1 => format!("c{k}"),
                2 => {
                    (0..1 + rng.below(4))
                        .map(|_| if rng.chance(50) { "Aa" } else { "BB" })
                        .collect::<String>()
                        + &format!("{k}")
                }
                _ => format!("topic.{}", rng.next() % 1000 * 1000 + k as u64),
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        sets.push(
            keys.into_iter()
                .filter(|k| seen.insert(k.clone()))
                .collect(),
        );
    }
    // Nine or ten keys with one hash among others: the bucket overflows and
    // Java grows the table early. (Once the table has 64 buckets, a tenth key
    // in that bucket makes it a tree, whose order is not reproduced: the
    // other keys stay out of it.)
    for colliding in [9, 10] {
        for others in [0, 5, 30] {
            let mut keys: Vec<String> = (0..16usize)
                .map(|bits| {
                    (0..4)
                        .map(|b| if bits >> b & 1 == 1 { "Aa" } else { "BB" })
                        .collect::<String>()
                })
                .take(colliding)
                .collect();
            let bucket = spread(java_hash(&keys[0])) & 63;
            keys.extend(
                (0..others)
                    .map(|k| format!("member-{k}"))
                    .filter(|k| spread(java_hash(k)) & 63 != bucket),
            );
            sets.push(keys);
        }
    }
    let dir = std::env::temp_dir().join(format!("kafka-blocking-hashmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("Order.java");
    std::fs::write(
        &source,
        r#"
import java.io.*;
import java.util.*;
public class Order {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            Map<String, Integer> map = new HashMap<>();
            for (String k : line.split(" ")) map.put(k, map.size());
            System.out.println(String.join(" ", map.keySet()));
        }
    }
}
"#,
    )
    .unwrap();
    let mut child = Command::new("java")
        .arg(&source)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = sets.iter().map(|s| s.join(" ") + "\n").collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "java failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), sets.len());
    for (keys, line) in sets.iter().zip(lines) {
        let hashes: Vec<i32> = keys.iter().map(|k| java_hash(k)).collect();
        let mine: Vec<&str> = java_hash_map_order(&hashes)
            .into_iter()
            .map(|i| keys[i].as_str())
            .collect();
        assert_eq!(mine.join(" "), line, "keys {keys:?}");
    }
}

/// `java.util.HashMap.hash`.
fn spread(h: i32) -> u32 {
    (h as u32) ^ (h as u32 >> 16)
}

/// Java's `String.hashCode`.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}
