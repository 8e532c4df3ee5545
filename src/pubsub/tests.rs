use super::*;
use std::thread;

#[derive(Clone, Debug, PartialEq)]
struct Sub(usize);

impl Subscriber for Sub {
    fn key(&self) -> usize {
        self.0
    }
}

#[test]
fn subscribe_counts_and_duplicates() {
    let e = Engine::default();
    let (_, c) = e.subscribe("t", Sub(1)).unwrap();
    assert_eq!((c.old_count, c.new_count), (0, 1));
    assert!(e.subscribe("t", Sub(1)).is_none());
    let (_, c) = e.subscribe("t", Sub(2)).unwrap();
    assert_eq!((c.old_count, c.new_count), (1, 2));
    assert_eq!(e.count("t"), 2);
}

#[test]
fn unsubscribe_frees_empty_topics() {
    let e = Engine::default();
    e.subscribe("t", Sub(1));
    e.subscribe("t", Sub(2));
    assert_eq!(e.unsubscribe("t", 1).unwrap().new_count, 1);
    assert!(e.unsubscribe("t", 1).is_none());
    assert_eq!(e.unsubscribe("t", 2).unwrap().new_count, 0);
    assert!(e.topics().is_empty());
    assert!(e.unsubscribe("missing", 2).is_none());
}

#[test]
fn swap_remove_keeps_index_consistent() {
    let e = Engine::default();
    for i in 0..100 {
        e.subscribe("t", Sub(i));
    }
    for i in (0..100).step_by(3) {
        assert!(e.unsubscribe("t", i).is_some());
    }
    let mut seen: Vec<usize> = e.subscribers("t").into_iter().map(|s| s.0).collect();
    seen.sort();
    let want: Vec<usize> = (0..100).filter(|i| i % 3 != 0).collect();
    assert_eq!(seen, want);
    for i in want {
        assert!(
            e.unsubscribe("t", i).is_some(),
            "subscriber {i} lost its index"
        );
    }
    assert_eq!(e.count("t"), 0);
}

#[test]
fn publish_visits_every_subscriber_once() {
    let e = Engine::default();
    for i in 0..10_000 {
        e.subscribe("big", Sub(i));
    }
    let mut sum = 0;
    assert_eq!(e.publish("big", |s| sum += s.0), 10_000);
    assert_eq!(sum, (0..10_000).sum::<usize>());
    assert_eq!(e.publish("none", |_| panic!("no subscribers")), 0);
}

#[test]
fn concurrent_publishers_keep_per_topic_order() {
    // Each delivery appends (publisher, seq) to the subscriber's log under the topic lock;
    // every subscriber must see each publisher's sequence in order and the same interleaving.
    use std::sync::Mutex;
    let e = Arc::new(Engine::default());
    for i in 0..8 {
        e.subscribe("t", Sub(i));
    }
    type Log = Mutex<Vec<(usize, usize)>>;
    let logs: Arc<Vec<Log>> = Arc::new((0..8).map(|_| Mutex::new(Vec::new())).collect());
    let handles: Vec<_> = (0..4)
        .map(|p| {
            let (e, logs) = (e.clone(), logs.clone());
            thread::spawn(move || {
                for seq in 0..2_000 {
                    e.publish("t", |s| logs[s.0].lock().unwrap().push((p, seq)));
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let first = logs[0].lock().unwrap().clone();
    assert_eq!(first.len(), 8_000);
    for log in logs.iter() {
        assert_eq!(*log.lock().unwrap(), first, "subscribers disagree on order");
    }
    for p in 0..4 {
        let seqs: Vec<usize> = first.iter().filter(|(q, _)| *q == p).map(|x| x.1).collect();
        assert_eq!(seqs, (0..2_000).collect::<Vec<_>>());
    }
}

#[test]
fn many_topics_one_subscriber() {
    let e = Engine::default();
    for i in 0..10_000 {
        e.subscribe(&format!("topic-{i}"), Sub(7));
    }
    assert_eq!(e.topics().len(), 10_000);
    for i in 0..10_000 {
        assert_eq!(
            e.unsubscribe(&format!("topic-{i}"), 7).unwrap().new_count,
            0
        );
    }
    assert!(e.topics().is_empty());
}
