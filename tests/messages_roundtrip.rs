//! Round trips of every generated message at every version, plus byte vectors
//! written by hand from the JSON message definitions.

use std::fmt::Debug;

use kafka_blocking::unstable::protocol::messages::{
    api_versions_response::{ApiVersion, SupportedFeatureKey},
    metadata_request::MetadataRequestTopic,
    *,
};
use kafka_blocking::unstable::protocol::{
    Bytes, Decodable, Encodable, RawTaggedField, Reader, Request, Response,
};

fn encode<T: Encodable>(msg: &T, version: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    msg.encode(&mut buf, version).unwrap();
    buf
}

fn decode_all<T: Decodable>(bytes: &[u8], version: i16) -> T {
    let mut r = Reader::new(bytes.to_vec());
    let msg = T::decode(&mut r, version).unwrap();
    assert!(r.is_empty(), "{} bytes left over", r.remaining());
    msg
}

/// Encode, decode back equal (consuming every byte), re-encode to the same
/// bytes; every strict prefix must fail to decode.
fn roundtrip<T: Encodable + Decodable + PartialEq + Debug>(name: &str, version: i16, msg: &T) {
    let mut buf = Vec::new();
    msg.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{name} v{version}: encode failed: {e}"));
    let mut r = Reader::new(buf.clone());
    let back = T::decode(&mut r, version)
        .unwrap_or_else(|e| panic!("{name} v{version}: decode failed: {e}"));
    assert!(
        r.is_empty(),
        "{name} v{version}: decoder left {} of {} bytes",
        r.remaining(),
        buf.len()
    );
    assert_eq!(&back, msg, "{name} v{version}: decoded value differs");
    let mut again = Vec::new();
    back.encode(&mut again, version).unwrap();
    assert_eq!(again, buf, "{name} v{version}: re-encoding differs");
    for cut in 0..buf.len() {
        let mut r = Reader::new(buf[..cut].to_vec());
        assert!(
            T::decode(&mut r, version).is_err(),
            "{name} v{version}: a {cut}-byte prefix of {} bytes decoded",
            buf.len()
        );
    }
}

macro_rules! roundtrip_all {
    ($($kind:ident $ty:ty),* $(,)?) => {{
        let mut checked = Vec::new();
        $(
            let name = stringify!($ty).rsplit("::").next().unwrap().trim().to_string();
            assert!(<$ty>::MIN_VERSION <= <$ty>::MAX_VERSION);
            assert!(<$ty>::MAX_VERSION <= <$ty>::HIGHEST_SUPPORTED_VERSION);
            let mut non_default = 0;
            for v in <$ty>::MIN_VERSION..=<$ty>::HIGHEST_SUPPORTED_VERSION {
                let sample = <$ty>::sample(v);
                // (Some versions have no fields at all, e.g. ApiVersionsRequest v0.)
                non_default += usize::from(sample != <$ty>::default());
                roundtrip(&name, v, &sample);
                // The default value is encodable at every version too.
                roundtrip(&name, v, &<$ty>::default());
            }
            assert!(non_default > 0, "{name}: every sample is the default");
            // Versions outside the range are refused, not guessed.
            let mut buf = Vec::new();
            assert!(<$ty>::default().encode(&mut buf, <$ty>::HIGHEST_SUPPORTED_VERSION + 1).is_err());
            checked.push((stringify!($kind), name));
        )*
        checked
    }};
}

#[test]
fn every_message_roundtrips_at_every_version() {
    let checked = kafka_blocking::for_each_kafka_message!(roundtrip_all);
    // 31 APIs (request + response) and 2 data types at the time of writing.
    assert!(checked.len() >= 64, "only {} messages", checked.len());
    let requests = checked.iter().filter(|(k, _)| *k == "request").count();
    let responses = checked.iter().filter(|(k, _)| *k == "response").count();
    assert_eq!(requests, responses);
}

#[test]
fn api_versions_request_v3_bytes() {
    let req = ApiVersionsRequest {
        client_software_name: "kafka-blocking".into(),
        client_software_version: "0.1.0".into(),
        ..Default::default()
    };
    let mut expected = vec![15u8];
    expected.extend_from_slice(b"kafka-blocking");
    expected.push(6);
    expected.extend_from_slice(b"0.1.0");
    expected.push(0); // empty tagged-field section
    assert_eq!(encode(&req, 3), expected);
    assert_eq!(decode_all::<ApiVersionsRequest>(&expected, 3), req);
    // v0-v2 have no fields; the strings are ignorable, so they are dropped.
    assert_eq!(encode(&req, 2), Vec::<u8>::new());
    assert_eq!(<ApiVersionsRequest as Request>::API_KEY, 18);
    assert_eq!(<ApiVersionsRequest as Request>::NAME, "ApiVersions");
    assert_eq!(<ApiVersionsRequest as Request>::FLEXIBLE_MIN, 3);
    assert_eq!(ApiVersionsRequest::header_version(3), 2);
    assert_eq!(ApiVersionsRequest::header_version(2), 1);
    // ApiVersions responses always use header v0.
    assert_eq!(ApiVersionsResponse::header_version(3), 0);
    assert_eq!(MetadataResponse::header_version(9), 1);
    assert_eq!(MetadataResponse::header_version(8), 0);
}

#[test]
fn metadata_request_v1_bytes() {
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some("foo".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    // Topics: int32 count 1; Name: int16 length 3 + "foo". TopicId (v10+) and
    // AllowAutoTopicCreation (v4+, default true) are absent.
    let expected = [0, 0, 0, 1, 0, 3, b'f', b'o', b'o'];
    assert_eq!(encode(&req, 1), expected);
    assert_eq!(decode_all::<MetadataRequest>(&expected, 1), req);
    // A null topic list ("all topics") is -1 from v1 on ...
    let all = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert_eq!(encode(&all, 1), [0xff, 0xff, 0xff, 0xff]);
    // ... and not expressible in v0.
    let err = all.encode(&mut Vec::new(), 0).unwrap_err();
    assert!(err.message().contains("Topics"), "{err}");
    assert!(MetadataRequest::decode(&mut Reader::new(vec![0xff, 0xff, 0xff, 0xff]), 0).is_err());
    assert_eq!(<MetadataRequest as Request>::API_KEY, 3);
    assert_eq!(<MetadataRequest as Request>::NAME, "Metadata");
    assert_eq!(<MetadataRequest as Request>::MAX_VERSION, 12);
    assert_eq!(<MetadataResponse as Response>::API_KEY, 3);
}

#[test]
fn api_versions_response_v3_with_tagged_field() {
    let resp = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
            ..Default::default()
        }],
        throttle_time_ms: 0,
        supported_features: vec![SupportedFeatureKey {
            name: "f".into(),
            min_version: 1,
            max_version: 20,
            ..Default::default()
        }],
        ..Default::default()
    };
    #[rustfmt::skip]
    let expected = [
        0, 0,                       // ErrorCode
        2,                          // ApiKeys: compact count 1
        0, 18, 0, 0, 0, 4, 0,       //   ApiKey, MinVersion, MaxVersion, no tags
        0, 0, 0, 0,                 // ThrottleTimeMs
        1,                          // one tagged field
        0, 8,                       //   tag 0 (SupportedFeatures), 8 bytes
        2, 2, b'f', 0, 1, 0, 20, 0, //   count 1: Name "f", Min 1, Max 20, no tags
    ];
    assert_eq!(encode(&resp, 3), expected);
    assert_eq!(decode_all::<ApiVersionsResponse>(&expected, 3), resp);
    // FinalizedFeaturesEpoch (tag 1) keeps its default -1 when absent.
    assert_eq!(
        decode_all::<ApiVersionsResponse>(&expected, 3).finalized_features_epoch,
        -1
    );
    // Tagged fields are ignorable: in v2 they are silently dropped.
    let v2 = encode(&resp, 2);
    assert_eq!(v2, [0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0]);
}

#[test]
fn fetch_request_v12_cluster_id_tag() {
    let req = FetchRequest {
        cluster_id: Some("c1".into()),
        max_wait_ms: 500,
        min_bytes: 1,
        ..Default::default()
    };
    #[rustfmt::skip]
    let expected = [
        0xff, 0xff, 0xff, 0xff, // ReplicaId -1
        0, 0, 1, 0xf4,          // MaxWaitMs 500
        0, 0, 0, 1,             // MinBytes 1
        0x7f, 0xff, 0xff, 0xff, // MaxBytes (default)
        0,                      // IsolationLevel
        0, 0, 0, 0,             // SessionId
        0xff, 0xff, 0xff, 0xff, // SessionEpoch -1
        1,                      // Topics: empty compact array
        1,                      // ForgottenTopicsData: empty
        1,                      // RackId: ""
        1, 0, 3, 3, b'c', b'1', // tagged: ClusterId (tag 0) = compact "c1"
    ];
    assert_eq!(encode(&req, 12), expected);
    assert_eq!(decode_all::<FetchRequest>(&expected, 12), req);
    // Without a cluster id the tagged section is empty.
    let plain = FetchRequest {
        cluster_id: None,
        ..req.clone()
    };
    assert_eq!(encode(&plain, 12).last(), Some(&0));
}

#[test]
fn unknown_tagged_fields_survive() {
    // ClientSoftwareName "", ClientSoftwareVersion "", then two unknown tags, 7 and 9.
    let bytes = vec![1u8, 1, 2, 7, 1, 0xaa, 9, 2, 0xbb, 0xcc];
    let req: ApiVersionsRequest = decode_all(&bytes, 3);
    assert_eq!(
        req.unknown_tagged_fields,
        [
            RawTaggedField {
                tag: 7,
                data: Bytes::from(vec![0xaa])
            },
            RawTaggedField {
                tag: 9,
                data: Bytes::from(vec![0xbb, 0xcc])
            },
        ]
    );
    assert_eq!(encode(&req, 3), bytes);
    // They cannot be written in a non-flexible version.
    assert!(req.encode(&mut Vec::new(), 2).is_err());
    // A known tag that collides with an unknown one is an error, not a duplicate.
    let dup = ApiVersionsResponse {
        finalized_features_epoch: 5,
        unknown_tagged_fields: vec![RawTaggedField {
            tag: 1,
            data: Bytes::from(vec![0]),
        }],
        ..Default::default()
    };
    assert!(dup.encode(&mut Vec::new(), 3).is_err());
}

#[test]
fn non_ignorable_absent_field_is_an_encode_error() {
    // MetadataRequest.AllowAutoTopicCreation exists from v4 (default true, not ignorable).
    let req = MetadataRequest {
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let err = req.encode(&mut Vec::new(), 3).unwrap_err();
    assert!(
        err.message()
            .contains("MetadataRequest.AllowAutoTopicCreation"),
        "{err}"
    );
    assert!(err.message().contains("version 3"), "{err}");
    assert!(req.encode(&mut Vec::new(), 4).is_ok());

    // MetadataResponse.ClusterAuthorizedOperations exists only in v8-10.
    let resp = MetadataResponse {
        cluster_authorized_operations: 5,
        ..Default::default()
    };
    assert!(resp.encode(&mut Vec::new(), 10).is_ok());
    let err = resp.encode(&mut Vec::new(), 11).unwrap_err();
    assert!(
        err.message().contains("ClusterAuthorizedOperations"),
        "{err}"
    );

    // FetchRequest.ReplicaId was replaced by the tagged ReplicaState in v15.
    let fetch = FetchRequest {
        replica_id: 3,
        ..Default::default()
    };
    assert!(fetch.encode(&mut Vec::new(), 14).is_ok());
    assert!(fetch.encode(&mut Vec::new(), 15).is_err());

    // Ignorable fields are dropped silently: ThrottleTimeMs exists from v3.
    let resp = MetadataResponse {
        throttle_time_ms: 100,
        ..Default::default()
    };
    assert_eq!(encode(&resp, 0), [0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn hostile_array_count_is_rejected() {
    // MetadataResponse v0: Brokers count 0x7fffffff with nothing behind it.
    let bytes = vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert!(MetadataResponse::decode(&mut Reader::new(bytes), 0).is_err());
    // Flexible: compact count 2^28 with a few bytes behind it.
    let bytes = vec![0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 2, 3];
    assert!(MetadataResponse::decode(&mut Reader::new(bytes), 9).is_err());
}

#[test]
fn unstable_versions_are_not_advertised() {
    // EndTxn v5 is marked latestVersionUnstable and not used.
    assert_eq!(<EndTxnRequest as Request>::MAX_VERSION, 4);
    assert_eq!(EndTxnRequest::HIGHEST_SUPPORTED_VERSION, 5);
    assert_eq!(EndTxnResponse::MAX_VERSION, 4);
    // ConsumerGroupHeartbeat v1 is marked unstable in the shared 4.0 snapshot
    // but Kafka 4.0 released it (codegen's RELEASED_UNSTABLE list).
    assert_eq!(<ConsumerGroupHeartbeatRequest as Request>::MAX_VERSION, 1);
    assert_eq!(<SaslHandshakeRequest as Request>::FLEXIBLE_MIN, i16::MAX);
    assert_eq!(ConsumerProtocolSubscription::MAX_VERSION, 3);
    assert_eq!(ConsumerProtocolAssignment::FLEXIBLE_MIN, i16::MAX);
}
