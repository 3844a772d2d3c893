//! `sluice-rawgen`: a second, independent load generator for the fan-out workloads
//! (issue #19: "a harness is only trusted once a second, independent client
//! implementation agrees with it"). It shares no client code with `sluice-bench`:
//! WebSocket framing and the binary protocol (`docs/protocol.md` §11) are written
//! here by hand over tokio's `TcpStream`, publishes carry their send time, and the
//! subscribers' latencies go into HdrHistograms.
//!
//!   sluice-rawgen --sluice-bin target/release/sluice --connections 1000 --subjects 1000 \
//!       --rate 40000 [--seconds 10] [--warmup 2] [--payload 512] [--publishers 4] [--kafka]
//!
//! With `--kafka` (issue #20's W5) the gateway runs on librdkafka's mock cluster,
//! started here, and the rate is written into Kafka by a producer (rdkafka's
//! `BaseProducer`, a thread of its own) instead of published through the gateway.
//!
//! It starts the gateway (log in memory, the bench's bounds) pinned to CPU 0 and
//! itself to CPU 1 when `taskset` exists, and prints one line: offered and delivered
//! deliveries/s, p50/p99/p999 latency, the gateway's CPU. A benchmark: it prints,
//! it asserts nothing.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    sluice_bin: String,
    connections: usize,
    subjects: usize,
    rate: u64,
    seconds: u64,
    warmup: u64,
    payload: usize,
    publishers: usize,
    kafka: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: &str| -> String {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    let num = |name: &str, default: &str| -> u64 {
        get(name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number"))
    };
    Args {
        sluice_bin: get("--sluice-bin", "target/release/sluice"),
        connections: num("--connections", "1000") as usize,
        subjects: num("--subjects", "1000") as usize,
        rate: num("--rate", "20000"),
        seconds: num("--seconds", "10"),
        warmup: num("--warmup", "2"),
        payload: num("--payload", "512") as usize,
        publishers: num("--publishers", "4") as usize,
        kafka: argv.iter().any(|a| a == "--kafka"),
    }
}

/// Topic `bench` (8 partitions) and the Portal's topic on a mock cluster; the
/// producer owns the cluster. Returns it with the bootstrap address.
fn mock_kafka() -> (rdkafka::producer::BaseProducer, String) {
    use rdkafka::producer::Producer;
    let owner: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("test.mock.num.brokers", "1")
        .create()
        .expect("a mock cluster");
    let bootstrap = {
        let cluster = owner.client().mock_cluster().expect("a mock cluster");
        cluster.create_topic("bench", 8, 1).unwrap();
        cluster.create_topic("_sluice_portal", 1, 1).unwrap();
        cluster.bootstrap_servers()
    };
    (owner, bootstrap)
}

/// Writes `rate` records a second over the subjects' keys (`s0`, `s1`, ...), each
/// value the send time (ns since `base`) then padding, until `stop`.
fn produce_into_kafka(
    bootstrap: &str,
    subjects: usize,
    rate: u64,
    payload: usize,
    base: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "1")
        .create()
        .expect("a producer");
    std::thread::spawn(move || {
        let keys: Vec<String> = (0..subjects).map(|s| format!("s{s}")).collect();
        let pad = vec![b'x'; payload.saturating_sub(8)];
        let start = Instant::now();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let mut value = (base.elapsed().as_nanos() as u64).to_be_bytes().to_vec();
                value.extend_from_slice(&pad);
                let key = &keys[sent as usize % keys.len()];
                match producer.send(BaseRecord::to("bench").key(key).payload(&value)) {
                    Ok(()) => sent += 1,
                    Err(_) => break,
                }
            }
            producer.poll(Duration::from_millis(1));
        }
        let _ = producer.flush(Duration::from_secs(5));
    })
}

/// Starts the gateway on a free port, pinned to CPU 0 when possible; on Kafka
/// when `kafka` names the bootstrap address.
fn start_gateway(bin: &str, dir: &std::path::Path, kafka: Option<&str>) -> (Child, u16) {
    // The gateway runs in `dir`: a relative path would no longer point at it.
    let bin = std::fs::canonicalize(bin).expect("--sluice-bin names the gateway binary");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("rawgen.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[gateway]\n\
             exposed_topics = [\"bench\"]\npublishes_in_flight_per_client_max = 65536\n\
             publish_rate_per_s = 0\nmessage_cache_messages_per_subject_max = 16\n\
             [websocket]\nping_interval_ms = 60000\npong_timeout_ms = 120000\n\
             connections_max = 100000\nconnections_per_ip_max = 100000\n{}",
            match kafka {
                Some(bootstrap) => format!(
                    "[broker]\nkind = \"kafka\"\n[broker.kafka]\nbootstrap_servers = \"{bootstrap}\"\n\
                     [broker.kafka.properties]\n\"fetch.wait.max.ms\" = \"5\"\n"
                ),
                None => "[broker.embedded]\nstorage = \"memory\"\npartitions = 4\n\
                         retention_records_max = 20000\n"
                    .to_owned(),
            }
        ),
    )
    .unwrap();
    let pinned = Command::new("taskset").arg("-V").output().is_ok();
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let child = command
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the gateway");
    if pinned {
        let _ = Command::new("taskset")
            .args(["-cp", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// The gateway's CPU seconds so far (the child is `taskset`, which execs it).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Opens a WebSocket with the binary subprotocol, the handshake by hand.
async fn connect(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|err| {
            panic!("cannot connect to the gateway: {err} (after a run of 18,000, the ephemeral ports may still be in TIME_WAIT: wait a minute)")
        });
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(
            b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: sluice.v1.bin\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "upgrade refused");
    stream
}

/// Appends one masked binary frame (a client's frames are masked; the mask is
/// zeros, which leaves the bytes as they are).
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x82);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    out.extend([0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

fn str_field(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u16).to_be_bytes());
    out.extend(s.as_bytes());
}

/// Reads one frame's opcode and payload.
async fn read_frame(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> Option<u8> {
    let first = reader.read_u8().await.ok()?;
    let second = reader.read_u8().await.ok()?;
    let len = match second & 0x7f {
        126 => u64::from(reader.read_u16().await.ok()?),
        127 => reader.read_u64().await.ok()?,
        n => u64::from(n),
    };
    buf.resize(len as usize, 0);
    reader.read_exact(buf).await.ok()?;
    Some(first & 0x0f)
}

/// The send time (ns since `base`) in a message frame's data, if it is one.
fn sent_ns(frame: &[u8]) -> Option<u64> {
    // 0x83 kind flags subject:str epoch:str seq:u64 data:bytes
    if frame.first() != Some(&0x83) {
        return None;
    }
    let mut at = 3;
    for _ in 0..2 {
        let len = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?) as usize;
        at += 2 + len;
    }
    at += 8 + 4;
    Some(u64::from_be_bytes(frame.get(at..at + 8)?.try_into().ok()?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("sluice-rawgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kafka = args.kafka.then(mock_kafka);
    let (mut gateway, port) = start_gateway(
        &args.sluice_bin,
        &dir,
        kafka.as_ref().map(|(_, bootstrap)| bootstrap.as_str()),
    );
    let base = Instant::now();
    let measuring = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let subjects: Vec<String> = (0..args.subjects).map(|s| format!("/bench/s{s}")).collect();

    // Subscribers: connection i on subject i % subjects.
    let mut readers = Vec::new();
    for i in 0..args.connections {
        let stream = connect(port).await;
        let (read, mut write) = stream.into_split();
        let mut request = vec![0x01];
        request.extend((i as u64 + 1).to_be_bytes());
        request.push(0);
        request.extend(1u16.to_be_bytes());
        str_field(&mut request, &subjects[i % args.subjects]);
        request.push(0);
        let mut out = Vec::new();
        frame(&mut out, &request);
        write.write_all(&out).await.unwrap();
        let (measuring, delivered) = (measuring.clone(), delivered.clone());
        readers.push(tokio::spawn(async move {
            let _write = write;
            let mut reader = BufReader::with_capacity(16 * 1024, read);
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let mut buf = Vec::new();
            while let Some(opcode) = read_frame(&mut reader, &mut buf).await {
                if opcode != 0x2 {
                    continue;
                }
                if let Some(sent) = sent_ns(&buf) {
                    if measuring.load(Ordering::Relaxed) {
                        let now = base.elapsed().as_nanos() as u64;
                        let _ = histogram.record(now.saturating_sub(sent) / 1000);
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            histogram
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Publishers: each sends its share of the rate every millisecond, and drains
    // its acks.
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    let producer = kafka.as_ref().map(|(_, bootstrap)| {
        produce_into_kafka(
            bootstrap,
            args.subjects,
            args.rate,
            args.payload,
            base,
            stop.clone(),
        )
    });
    for p in (0..args.publishers).filter(|_| !args.kafka) {
        let stream = connect(port).await;
        let (mut read, mut write) = stream.into_split();
        tokio::spawn(async move {
            let mut sink = vec![0u8; 64 * 1024];
            while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        let (stop, subjects) = (stop.clone(), subjects.clone());
        let (rate, payload, publishers_n) = (args.rate, args.payload, args.publishers as u64);
        publishers.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut sent = 0u64;
            let mut id = 0u64;
            let pad = vec![b'x'; payload.saturating_sub(8)];
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let due =
                    (start.elapsed().as_secs_f64() * rate as f64 / publishers_n as f64) as u64;
                let mut out = Vec::new();
                while sent < due {
                    id += 1;
                    let subject =
                        &subjects[((id * publishers_n + p as u64) as usize) % subjects.len()];
                    let mut publish = vec![0x03];
                    publish.extend(id.to_be_bytes());
                    publish.push(0);
                    str_field(&mut publish, subject);
                    let now = base.elapsed().as_nanos() as u64;
                    publish.extend(((8 + pad.len()) as u32).to_be_bytes());
                    publish.extend(now.to_be_bytes());
                    publish.extend_from_slice(&pad);
                    frame(&mut out, &publish);
                    sent += 1;
                }
                if !out.is_empty() && write.write_all(&out).await.is_err() {
                    return;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let gateway_pid = gateway.id();
    let cpu_start = cpu_seconds(gateway_pid);
    measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let cpu = cpu_seconds(gateway_pid) - cpu_start;
    stop.store(true, Ordering::Relaxed);
    if let Some(producer) = producer {
        let _ = producer.join();
    }
    let got = delivered.load(Ordering::Relaxed);
    let _ = gateway.kill();
    let _ = gateway.wait();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for reader in readers {
        if let Ok(h) = reader.await {
            let _ = histogram.add(h);
        }
    }
    let fanout = args.connections as f64 / args.subjects as f64;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "rawgen {}/{}: offered {:.0} deliveries/s, delivered {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms, gateway CPU {:.0}%, {:.0} deliveries per CPU-s",
        args.connections,
        args.subjects,
        args.rate as f64 * fanout,
        got as f64 / elapsed,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        100.0 * cpu / elapsed,
        got as f64 / cpu.max(1e-9),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
