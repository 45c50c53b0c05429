use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use fanone_batch::{Coalescer, Error};

/// Every batch a batch function was called with, in order.
type Batches = Arc<Mutex<Vec<Vec<u32>>>>;

/// The item that fails its whole batch.
const UNLUCKY: u32 = 9_999;

/// A batch function that doubles each item after `delay` (a batch holding
/// [`UNLUCKY`] fails), recording every batch.
fn doubler(
    delay: Duration,
    max_batch: usize,
    max_in_flight: usize,
) -> (Coalescer<u32, u32, String>, Batches) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let c = Coalescer::new("test", max_batch, max_in_flight, move |items: Vec<u32>| {
        log.lock().unwrap().push(items.clone());
        async move {
            tokio::time::sleep(delay).await;
            if items.contains(&UNLUCKY) {
                return Err("unlucky".to_owned());
            }
            Ok(items.into_iter().map(|i| i * 2).collect())
        }
    });
    (c, seen)
}

type Answer = Result<u32, Error<String>>;

/// `c.call(item)` in a task of its own (a request of its own).
fn call_in_task(c: &Coalescer<u32, u32, String>, item: u32) -> tokio::task::JoinHandle<Answer> {
    let c = c.clone();
    tokio::spawn(async move { c.call(item).await })
}

#[tokio::test(start_paused = true)]
async fn an_idle_coalescer_sends_at_once_and_alone() {
    let (c, seen) = doubler(Duration::from_millis(10), 64, 1);
    let start = tokio::time::Instant::now();
    assert_eq!(c.call(21).await.unwrap(), 42);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(10),
        "no wait beyond the call"
    );
    assert_eq!(*seen.lock().unwrap(), vec![vec![21]]);
}

#[tokio::test(start_paused = true)]
async fn callers_arriving_during_a_call_share_the_next_one() {
    let (c, seen) = doubler(Duration::from_millis(10), 64, 1);
    let mut calls = vec![call_in_task(&c, 0)];
    // the first call is under way (1 ms into its 10) when the others arrive
    tokio::time::sleep(Duration::from_millis(1)).await;
    calls.extend((1..100u32).map(|i| call_in_task(&c, i)));
    for (i, call) in (0u32..).zip(calls) {
        let answer = call.await.unwrap();
        assert_eq!(answer.unwrap(), i * 2, "each caller gets its own answer");
    }
    let batches = seen.lock().unwrap().clone();
    // the first item alone, then the 99 that queued behind it in batches of <= 64
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[0].len(), 1);
    assert_eq!(batches[1].len(), 64);
    assert_eq!(batches[2].len(), 35);
    let mut all: Vec<u32> = batches.concat();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100).collect::<Vec<_>>(),
        "every item sent exactly once"
    );
}

#[tokio::test(start_paused = true)]
async fn at_most_max_in_flight_calls_run_at_once() {
    let running = Arc::new(Mutex::new((0usize, 0usize))); // (now, most)
    let r = running.clone();
    let c: Coalescer<u32, u32, String> = Coalescer::new("test", 4, 2, move |items: Vec<u32>| {
        let r = r.clone();
        async move {
            {
                let mut g = r.lock().unwrap();
                g.0 += 1;
                g.1 = g.1.max(g.0);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            r.lock().unwrap().0 -= 1;
            Ok(items)
        }
    });
    let calls: Vec<_> = (0..40u32).map(|i| call_in_task(&c, i)).collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), i as u32);
    }
    assert_eq!(running.lock().unwrap().1, 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_fails_each_of_its_callers_and_not_the_next() {
    let (c, _) = doubler(Duration::from_millis(10), 64, 1);
    let first = call_in_task(&c, 1);
    tokio::task::yield_now().await;
    // these two queue behind the first call and go together: UNLUCKY fails them both
    let a = call_in_task(&c, UNLUCKY);
    let b = call_in_task(&c, 2);
    assert_eq!(first.await.unwrap().unwrap(), 2);
    assert!(matches!(a.await.unwrap(), Err(Error::Call(e)) if e == "unlucky"));
    assert!(matches!(b.await.unwrap(), Err(Error::Call(e)) if e == "unlucky"));
    assert_eq!(
        c.call(3).await.unwrap(),
        6,
        "the coalescer goes on after a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_goes_away_does_not_cancel_the_others() {
    let (c, seen) = doubler(Duration::from_millis(10), 64, 1);
    let leader = call_in_task(&c, 1);
    tokio::task::yield_now().await;
    let other = call_in_task(&c, 2);
    tokio::task::yield_now().await;
    leader.abort(); // the first caller's request is cancelled mid-call
    assert_eq!(other.await.unwrap().unwrap(), 4);
    assert_eq!(seen.lock().unwrap().concat(), vec![1, 2]);
}

#[tokio::test]
async fn a_batch_function_that_answers_too_few_items_is_an_error_not_a_hang() {
    let c: Coalescer<u32, u32, String> =
        Coalescer::new("short", 8, 1, |_items: Vec<u32>| async { Ok(vec![]) });
    assert!(matches!(c.call(1).await, Err(Error::NoAnswer("short"))));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_batch_function_fails_its_callers_and_leaves_no_one_waiting() {
    let c: Coalescer<u32, u32, String> =
        Coalescer::new("panics", 64, 1, |items: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(!items.contains(&UNLUCKY), "a bug in the batch function");
            Ok(items)
        });
    let first = call_in_task(&c, UNLUCKY);
    tokio::time::sleep(Duration::from_millis(1)).await;
    // queued behind the call that will panic
    let queued = call_in_task(&c, 7);
    assert!(matches!(
        first.await.unwrap(),
        Err(Error::NoAnswer("panics"))
    ));
    let queued = tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .expect("a queued caller is answered, not left waiting")
        .unwrap();
    assert!(matches!(queued, Err(Error::NoAnswer("panics"))));
    assert_eq!(
        c.call(8).await.unwrap(),
        8,
        "later calls start a new sender"
    );
}
