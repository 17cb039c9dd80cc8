//! Batches refused with MESSAGE_TOO_LARGE: split and sent again in order
//! (the "Too large" rule in the sender's ordering notes), or a record too
//! large on its own failed alone with the partition's sequences moved down.

use super::*;

impl Sender {
    /// MESSAGE_TOO_LARGE: the batch is larger than the topic's
    /// `max.message.bytes` (or the broker's `message.max.bytes`) and was not
    /// appended. A batch of several records is split; a single record fails
    /// alone, saying which limit it broke and what to do.
    pub(super) fn too_large(&mut self, b: SentBatch, err: Error) {
        if b.record_count > 1 {
            self.split(b, err);
            return;
        }
        let err = match err {
            Error::Kafka {
                code,
                context,
                message,
            } => Error::Kafka {
                code,
                context: format!(
                    "{context}: the record is larger than the topic accepts (alone in a batch of \
                     {} bytes); the limit is the topic's max.message.bytes, which defaults to the \
                     broker's message.max.bytes: raise max.message.bytes on the topic or send \
                     smaller records",
                    b.bytes.len()
                ),
                message,
            },
            other => other,
        };
        self.release_sequences(&b);
        self.finish(b, Err(err));
    }

    /// Splits a batch of several records that the broker refused as too
    /// large, as Java's `RecordAccumulator.splitAndReenqueue`: its records go
    /// again in smaller batches (see `split_batch`), in order, at the front
    /// of the partition's retry queue, ready at once (the split is no retry:
    /// their attempts start at 0; `delivery.timeout.ms` still counts from
    /// the big batch's creation). With idempotence the parts take the big
    /// batch's sequence numbers in order (its base sequence, then + the
    /// records before each part), so the broker sees no gap, batches sent
    /// after the big one keep theirs, and the producer id stays.
    pub(super) fn split(&mut self, b: SentBatch, err: Error) {
        let settings = &self.shared.settings;
        let mut max_part = self.shared.accumulator.batch_size();
        if let Some(refused) = self.too_large.get(&b.tp.topic) {
            max_part = max_part.min(refused / 2);
        }
        let split = match split_batch(b.bytes.clone(), max_part) {
            Ok(s) => {
                let refused = self.too_large.entry(b.tp.topic.clone()).or_insert(s.size);
                *refused = (*refused).min(s.size);
                s
            }
            Err(e) => {
                log::warn!(
                    "cannot split a batch for {} refused as too large: {e}",
                    b.tp
                );
                self.finish(b, Err(err));
                return;
            }
        };
        let mut encoded = Vec::with_capacity(split.parts.len());
        for part in split.parts {
            let (state, seq) = match b.base_sequence {
                Some(base) => {
                    let seq = base.wrapping_add(part.first) & i32::MAX;
                    (
                        ProducerState {
                            base_sequence: seq,
                            ..split.producer
                        },
                        Some(seq),
                    )
                }
                None => (ProducerState::NONE, None),
            };
            let count = part.builder.len() as i32;
            match part.builder.finish(state, settings.compression) {
                Ok(bytes) => encoded.push((part.first, count, Bytes::from(bytes), seq)),
                Err(e) => {
                    log::warn!(
                        "cannot split a batch for {} refused as too large: {e}",
                        b.tp
                    );
                    self.finish(b, Err(err));
                    return;
                }
            }
        }
        let parts = encoded.len();
        log::debug!(
            "a batch of {} records ({} bytes) for {} is too large for the broker ({err}); \
             sending it again as {parts} batches",
            b.record_count,
            b.bytes.len(),
            b.tp
        );
        self.shared
            .counters
            .batch_splits
            .fetch_add(1, Ordering::Relaxed);
        if b.recovering {
            self.recovered(&b.tp);
        }
        let SentBatch {
            tp,
            record_count,
            first_index,
            whole,
            created,
            result,
            mut callbacks,
            reserved,
            ..
        } = b;
        callbacks.sort_by_key(|c| c.0);
        let mut callbacks = callbacks.into_iter().peekable();
        let mut reserved_left = reserved;
        let q = self.retries.entry(tp.clone()).or_default();
        let recovering = self.recovering.entry(tp.clone()).or_insert(0);
        for (k, (first, count, bytes, seq)) in encoded.into_iter().enumerate() {
            let first = first_index + first;
            let mut mine = Vec::new();
            while let Some(cb) = callbacks.next_if(|c| c.0 < first + count) {
                mine.push(cb);
            }
            // Memory is released as parts finish, in proportion.
            let share = if k + 1 == parts {
                reserved_left
            } else {
                (reserved as u128 * count as u128 / record_count.max(1) as u128) as usize
            };
            reserved_left -= share.min(reserved_left);
            let part = SentBatch {
                tp: tp.clone(),
                bytes,
                record_count: count,
                first_index: first,
                whole,
                created,
                result: result.clone(),
                callbacks: mine,
                reserved: share,
                attempts: 0,
                base_sequence: seq,
                retry_at: None,
                last_error: Some(err.clone()),
                recovering: true,
                resequenced: false,
            };
            *recovering += 1;
            // Before every batch created after the big one (and after the
            // parts before this one): batch ids grow in creation order, as
            // sequence numbers do.
            let key = (result.id, first);
            let pos = q
                .iter()
                .position(|o| (o.result.id, o.first_index) > key)
                .unwrap_or(q.len());
            q.insert(pos, part);
        }
    }

    /// A batch that the broker did not append failed for good: the
    /// partition's later batches move their sequence numbers down by its
    /// record count (Java's `adjustSequencesDueToFailedBatch`), so the broker
    /// sees no gap and the producer id stays. Those in flight carry the old
    /// numbers, which the broker refuses as out of order; they are marked so
    /// that this does not reset the producer id, and retried with the new.
    pub(super) fn release_sequences(&mut self, failed: &SentBatch) {
        let (Some(seq), Some((pid, epoch))) = (failed.base_sequence, self.producer) else {
            return;
        };
        if !self.idempotent() || self.needs_reset {
            return;
        }
        let n = failed.record_count;
        let later = |s: i32| s != seq && (s.wrapping_sub(seq) & i32::MAX) < 1 << 30;
        let restamp = |b: &mut SentBatch| -> bool {
            let Some(s) = b.base_sequence.filter(|s| b.tp == failed.tp && later(*s)) else {
                return false;
            };
            let moved = s.wrapping_sub(n) & i32::MAX;
            let mut v = b.bytes.to_vec();
            let state = ProducerState {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: moved,
                transactional: false,
            };
            if rewrite_producer_state(&mut v, state).is_err() {
                return false;
            }
            b.bytes = Bytes::from(v);
            b.base_sequence = Some(moved);
            true
        };
        if let Some(q) = self.retries.get_mut(&failed.tp) {
            for b in q.iter_mut() {
                restamp(b);
            }
        }
        let mut in_flight = 0;
        for r in self.in_flight.values_mut() {
            for b in r.batches.iter_mut() {
                if restamp(b) {
                    b.resequenced = true;
                    in_flight += 1;
                }
            }
        }
        if let Some(next) = self.sequences.get_mut(&failed.tp) {
            *next = next.wrapping_sub(n) & i32::MAX;
        }
        log::debug!(
            "a batch of {n} record(s) for {} (sequence {seq}) failed without being appended; \
             later batches move their sequence numbers down by {n} ({in_flight} in flight)",
            failed.tp
        );
    }
}
