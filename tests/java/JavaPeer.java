// The Apache Kafka Java client as a peer for tests/kafka_java_interop.rs.
//
// Compiled by the test with `javac -cp <kafka lib/*>` and run with `java -cp`.
// Byte strings on the wire of this program (stdin and stdout) are written as
// "-" for null and "x" followed by lower-case hex otherwise ("x" alone is the
// empty string), so every line is a list of space-separated tokens.
//
// Subcommands:
//
//   produce BOOTSTRAP
//     stdin:  P TOPIC CODEC PARTITION TIMESTAMP KEY VALUE NHEADERS [HKEY HVALUE]...
//             (PARTITION -1: the default partitioner chooses; one producer per
//             compression.type CODEC)
//     stdout: A LINE PARTITION OFFSET   per acknowledged record (LINE counts from 0)
//             E LINE MESSAGE            per failed record
//             done                      after end of input, once all are flushed
//
//   consume BOOTSTRAP TOPIC[,TOPIC...] COUNT TIMEOUT_MS
//     Assigns every partition, reads from the beginning until COUNT records.
//     stdout: R TOPIC PARTITION OFFSET TIMESTAMP KEYPARTITION KEY VALUE NHEADERS [HKEY HVALUE]...
//             (KEYPARTITION: the partition the Java default partitioner gives
//             the key, -1 for a null key)
//             done COUNT
//
//   member BOOTSTRAP TOPIC GROUP PROTOCOL STRATEGY NAME
//     A group member (PROTOCOL classic with STRATEGY range, roundrobin or
//     cooperative-sticky; or PROTOCOL consumer, KIP-848, STRATEGY ignored).
//     stdin:  commit P:O,P:O...   commitSync of those offsets
//             close               close (leave the group) and exit
//             (end of input also closes)
//     stdout: S                                    subscribed
//             G EVENT GENERATION MEMBERID PARTS    rebalance callback (EVENT is
//                                                  assigned, revoked or lost;
//                                                  PARTS "p,p,..." or "-")
//             R PARTITION OFFSET                   a record read
//             C ok | C err MESSAGE                 a commit's outcome
//             X                                    closed
//     Exits by itself after 170 s.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.LinkedBlockingQueue;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

public final class JavaPeer {
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);

    private JavaPeer() {}

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "produce":
                produce(args[1]);
                break;
            case "consume":
                consume(args[1], args[2].split(","), Integer.parseInt(args[3]), Long.parseLong(args[4]));
                break;
            case "member":
                member(args[1], args[2], args[3], args[4], args[5], args[6]);
                break;
            default:
                throw new IllegalArgumentException("unknown subcommand " + args[0]);
        }
        OUT.flush();
        System.exit(0);
    }

    private static synchronized void emit(String line) {
        OUT.println(line);
        OUT.flush();
    }

    static String enc(byte[] b) {
        if (b == null) {
            return "-";
        }
        StringBuilder s = new StringBuilder(1 + 2 * b.length).append('x');
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }

    static byte[] dec(String t) {
        if (t.equals("-")) {
            return null;
        }
        if (t.isEmpty() || t.charAt(0) != 'x' || t.length() % 2 != 1) {
            throw new IllegalArgumentException("bad byte string token " + t);
        }
        byte[] b = new byte[(t.length() - 1) / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(t.substring(1 + 2 * i, 3 + 2 * i), 16);
        }
        return b;
    }

    // ------------------------------------------------------------------ produce

    static void produce(String bootstrap) throws Exception {
        Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            String[] t = line.trim().split(" ");
            if (!t[0].equals("P")) {
                throw new IllegalArgumentException("bad produce line " + line);
            }
            String topic = t[1];
            String codec = t[2];
            int partition = Integer.parseInt(t[3]);
            long timestamp = Long.parseLong(t[4]);
            byte[] key = dec(t[5]);
            byte[] value = dec(t[6]);
            int nh = Integer.parseInt(t[7]);
            List<Header> headers = new ArrayList<>();
            for (int i = 0; i < nh; i++) {
                String hk = new String(dec(t[8 + 2 * i]), StandardCharsets.UTF_8);
                headers.add(new RecordHeader(hk, dec(t[9 + 2 * i])));
            }
            KafkaProducer<byte[], byte[]> p = producers.computeIfAbsent(codec, c -> {
                Properties props = new Properties();
                props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
                props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, c);
                props.put(ProducerConfig.LINGER_MS_CONFIG, "20");
                props.put(ProducerConfig.ACKS_CONFIG, "all");
                props.put(ProducerConfig.CLIENT_ID_CONFIG, "java-peer-" + c);
                return new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
            });
            final int lineNo = n++;
            p.send(new ProducerRecord<>(topic, partition < 0 ? null : partition, timestamp, key, value, headers),
                    (md, e) -> {
                        if (e != null) {
                            emit("E " + lineNo + " " + e.toString().replace('\n', ' '));
                        } else {
                            emit("A " + lineNo + " " + md.partition() + " " + md.offset());
                        }
                    });
        }
        for (KafkaProducer<byte[], byte[]> p : producers.values()) {
            p.flush();
        }
        for (KafkaProducer<byte[], byte[]> p : producers.values()) {
            p.close();
        }
        emit("done");
    }

    // ------------------------------------------------------------------ consume

    static void consume(String bootstrap, String[] topics, int count, long timeoutMs) throws InterruptedException {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-peer-reader");
        long deadline = System.currentTimeMillis() + timeoutMs;
        try (KafkaConsumer<byte[], byte[]> c =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            Map<String, Integer> partitions = new HashMap<>();
            List<TopicPartition> all = new ArrayList<>();
            for (String topic : topics) {
                List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofMillis(timeoutMs));
                while (infos.isEmpty() && System.currentTimeMillis() < deadline) {
                    // Not in the metadata yet: ask again.
                    Thread.sleep(100);
                    infos = c.partitionsFor(topic, Duration.ofMillis(timeoutMs));
                }
                partitions.put(topic, infos.size());
                for (PartitionInfo i : infos) {
                    all.add(new TopicPartition(topic, i.partition()));
                }
            }
            System.err.println("JavaPeer consume: assigned " + all);
            c.assign(all);
            c.seekToBeginning(all);
            int read = 0;
            while (read < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    int keyPartition = r.key() == null
                            ? -1
                            : Utils.toPositive(Utils.murmur2(r.key())) % partitions.get(r.topic());
                    StringBuilder s = new StringBuilder("R ")
                            .append(r.topic()).append(' ')
                            .append(r.partition()).append(' ')
                            .append(r.offset()).append(' ')
                            .append(r.timestamp()).append(' ')
                            .append(keyPartition).append(' ')
                            .append(enc(r.key())).append(' ')
                            .append(enc(r.value()));
                    Header[] hs = r.headers().toArray();
                    s.append(' ').append(hs.length);
                    for (Header h : hs) {
                        s.append(' ').append(enc(h.key().getBytes(StandardCharsets.UTF_8)))
                                .append(' ').append(enc(h.value()));
                    }
                    emit(s.toString());
                    read++;
                }
            }
            emit("done " + read);
        }
    }

    // ------------------------------------------------------------------ member

    static String parts(Collection<TopicPartition> tps) {
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : tps) {
            ps.add(tp.partition());
        }
        if (ps.isEmpty()) {
            return "-";
        }
        StringBuilder s = new StringBuilder();
        for (int p : ps) {
            if (s.length() > 0) {
                s.append(',');
            }
            s.append(p);
        }
        return s.toString();
    }

    static void member(String bootstrap, String topic, String group, String protocol, String strategy, String name)
            throws Exception {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        if (protocol.equals("classic")) {
            String assignor;
            switch (strategy) {
                case "range":
                    assignor = "org.apache.kafka.clients.consumer.RangeAssignor";
                    break;
                case "roundrobin":
                    assignor = "org.apache.kafka.clients.consumer.RoundRobinAssignor";
                    break;
                case "cooperative-sticky":
                    assignor = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
                    break;
                default:
                    throw new IllegalArgumentException("unknown strategy " + strategy);
            }
            props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor);
            props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
            props.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "30000");
        }

        LinkedBlockingQueue<String> commands = new LinkedBlockingQueue<>();
        Thread stdin = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (!line.isBlank()) {
                        commands.add(line.trim());
                    }
                }
            } catch (Exception e) {
                // Treated as end of input.
            }
            commands.add("close");
        });
        stdin.setDaemon(true);
        stdin.start();

        long deadline = System.currentTimeMillis() + 170_000;
        KafkaConsumer<byte[], byte[]> c =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            private void report(String event, Collection<TopicPartition> partitions) {
                emit("G " + event + " " + c.groupMetadata().generationId() + " " + c.groupMetadata().memberId()
                        + " " + parts(partitions));
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                report("revoked", partitions);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                report("assigned", partitions);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                report("lost", partitions);
            }
        });
        emit("S");
        while (System.currentTimeMillis() < deadline) {
            String cmd = commands.poll();
            if (cmd != null) {
                if (cmd.equals("close")) {
                    break;
                } else if (cmd.startsWith("commit ")) {
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (String po : cmd.substring(7).split(",")) {
                        String[] kv = po.split(":");
                        offsets.put(new TopicPartition(topic, Integer.parseInt(kv[0])),
                                new OffsetAndMetadata(Long.parseLong(kv[1])));
                    }
                    try {
                        c.commitSync(offsets);
                        emit("C ok");
                    } catch (Exception e) {
                        emit("C err " + e.toString().replace('\n', ' '));
                    }
                } else {
                    throw new IllegalArgumentException("unknown command " + cmd);
                }
            }
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                emit("R " + r.partition() + " " + r.offset());
            }
        }
        c.close();
        emit("X");
    }
}
