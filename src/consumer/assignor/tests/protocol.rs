use super::*;

// -- ConsumerProtocol bytes ------------------------------------------------

#[test]
fn subscription_bytes_match_java() {
    let sub = Subscription {
        topics: vec!["b".into(), "a".into()],
        user_data: None,
        owned_partitions: vec![tp("a", 2), tp("a", 1)],
        generation: 5,
        rack: Some("r1".into()),
    };
    // Topics and owned partitions sorted, as Java writes them.
    let v3 = encode_subscription(&sub, 3).unwrap();
    assert_eq!(
        v3,
        hex(
            "000300000002000161000162ffffffff000000010001610000000200000001000000020000000500027231"
        )
    );
    let d = decode_subscription(&v3).unwrap();
    assert_eq!(d.topics, ["a", "b"]);
    assert_eq!(d.owned_partitions, [tp("a", 1), tp("a", 2)]);
    assert_eq!(
        (d.generation, d.rack.as_deref(), d.user_data),
        (5, Some("r1"), None)
    );
    // v0 keeps topics and user data only.
    let mut sub0 = sub.clone();
    sub0.user_data = Some(vec![9, 8]);
    let v0 = encode_subscription(&sub0, 0).unwrap();
    assert_eq!(v0, hex("000000000002000161000162000000020908"));
    let d = decode_subscription(&v0).unwrap();
    assert_eq!(
        (d.owned_partitions.len(), d.generation, d.rack),
        (0, -1, None)
    );
    assert_eq!(d.user_data, Some(vec![9, 8]));
    // A higher version writes v3; a newer one reads as v3, ignoring what follows.
    assert_eq!(encode_subscription(&sub, 9).unwrap(), v3);
    let mut v4 = v3.clone();
    v4[1] = 4;
    v4.extend_from_slice(&[0, 0, 0, 42, 1, 2, 3]);
    assert_eq!(
        decode_subscription(&v4).unwrap(),
        decode_subscription(&v3).unwrap()
    );
    // Errors.
    assert!(encode_subscription(&sub, -1).is_err());
    assert!(decode_subscription(&[0]).is_err());
    assert!(decode_subscription(&hex("ffff00000000ffffffff")).is_err());
    assert!(decode_subscription(&v3[..v3.len() - 1]).is_err());
    // An empty rack reads as none, a negative generation as -1.
    let mut odd = sub.clone();
    odd.rack = Some(String::new());
    odd.generation = -7;
    let d = decode_subscription(&encode_subscription(&odd, 3).unwrap()).unwrap();
    assert_eq!((d.rack, d.generation), (None, -1));
}

#[test]
fn assignment_bytes_match_java() {
    let a = Assignment {
        partitions: vec![tp("b", 3), tp("a", 1), tp("b", 0)],
        user_data: Some(b"xy".to_vec()),
    };
    // Grouped by topic in order of first appearance.
    let v3 = encode_assignment(&a, 3).unwrap();
    assert_eq!(
        v3,
        hex("0003000000020001620000000200000003000000000001610000000100000001000000027879")
    );
    let d = decode_assignment(&v3).unwrap();
    assert_eq!(d.partitions, [tp("b", 3), tp("b", 0), tp("a", 1)]);
    assert_eq!(d.user_data.as_deref(), Some(&b"xy"[..]));
    let v0 = encode_assignment(&a, 0).unwrap();
    assert_eq!(&v0[2..], &v3[2..]);
    let mut v7 = v3.clone();
    v7[1] = 7;
    v7.push(0);
    assert_eq!(decode_assignment(&v7).unwrap(), d);
    assert!(decode_assignment(&v3[..5]).is_err());
    assert!(decode_assignment(&[0x80, 0]).is_err());
    assert_eq!(
        decode_assignment(&encode_assignment(&Assignment::default(), 3).unwrap()).unwrap(),
        Assignment::default()
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn subscription_into_member_and_back() {
    let sub = Subscription {
        topics: vec!["t".into()],
        user_data: Some(vec![1]),
        owned_partitions: vec![tp("t", 0)],
        generation: 4,
        rack: Some("r".into()),
    };
    let m = sub.clone().into_member("m-1", Some("i-1".into()));
    assert_eq!(m.member_id, "m-1");
    assert_eq!(m.group_instance_id.as_deref(), Some("i-1"));
    assert_eq!(m.subscription(), sub);
}

#[test]
fn duplicate_member_ids_keep_the_last_subscription() {
    let ms = [
        member("a", &["t1"]),
        member("b", &["t1"]),
        member("a", &["t2"]),
    ];
    let p = ppt(&[("t1", 2), ("t2", 2)]);
    let a = RangeAssignor.assign(&p, &ms);
    assert_eq!(a.len(), 2);
    assert_eq!(get(&a, "a"), parts("t2-0, t2-1"));
    assert_eq!(get(&a, "b"), parts("t1-0, t1-1"));
}
