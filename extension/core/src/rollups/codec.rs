//! The stored form of a [`Summary`]: a version byte, whether a sketch follows, fixed-width
//! little-endian fields at fixed offsets, then the sketch. Accessors read a stored summary in
//! place ([`Stored`]): the fields by offset, a percentile by one walk over the sketch's bytes,
//! with nothing allocated; merging decodes it ([`Summary::decode`]).
//!
//! Layout 2 writes the sketch compactly: level, then as LEB128 varints the values it counts, the
//! zero count and the numbers of positive and negative buckets, then the buckets in descending
//! order of value (the positive ones by descending index, then the negative ones by ascending
//! index), each as its distance from the previous index (the first of a store zigzag-encoded)
//! and its count. A percentile is found walking down from the largest value, so the 95th reads
//! a few buckets. A 5-minute bucket of 5-second readings takes about 165 bytes instead of
//! layout 1's 364 (12 bytes per bucket); layout 1, what 0.5.0 stored, is still read.

use super::sketch::{alpha, estimate, quantile_of, MAX_BUCKETS, MAX_LEVEL};
use super::{Sketch, Summary};

const LAYOUT_1: u8 = 1;
const VERSION: u8 = 2;
/// version, has-sketch, 14 eight-byte fields, flags: the same in both layouts.
const FIXED: usize = 2 + 14 * 8 + 4;
const ENDS_EARLY: &str = "a stored summary ends early";

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| ENDS_EARLY.to_string())?;
        self.0 = rest;
        Ok(*head)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.take().map(i64::from_le_bytes)
    }
    fn f64(&mut self) -> Result<f64, String> {
        self.take().map(f64::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.take().map(u64::from_le_bytes)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.take().map(i32::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take().map(u32::from_le_bytes)
    }
    #[inline]
    fn varint(&mut self) -> Result<u64, &'static str> {
        // Most counts and index steps are below 128.
        if let Some((&byte, rest)) = self.0.split_first() {
            if byte < 0x80 {
                self.0 = rest;
                return Ok(u64::from(byte));
            }
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&byte, rest)) = self.0.split_first() else {
                return Err(ENDS_EARLY);
            };
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a stored summary has a malformed number")
    }
    /// Layout 1's store: (index, count) pairs of 12 bytes.
    fn store(&mut self, n: u32) -> Result<Vec<(i32, u64)>, String> {
        if self.0.len() < n as usize * 12 {
            return Err(ENDS_EARLY.into());
        }
        (0..n).map(|_| Ok((self.i32()?, self.u64()?))).collect()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Layout 2's buckets descending by value: the positive store, the zero bucket, the negative
/// store. Fallible where the bytes can be anything.
struct Buckets<'a> {
    reader: Reader<'a>,
    level: u8,
    /// What the sketch counts, as stored (decoding checks it).
    total: u64,
    zero: Option<u64>,
    /// Buckets left in each store, and whether the next is the first of its store.
    positive: u64,
    negative: u64,
    first: bool,
    index: i64,
}

impl<'a> Buckets<'a> {
    fn open(bytes: &'a [u8]) -> Result<Buckets<'a>, String> {
        let mut reader = Reader(bytes);
        let [level] = reader.take::<1>()?;
        let (total, zero) = (reader.varint()?, reader.varint()?);
        let (positive, negative) = (reader.varint()?, reader.varint()?);
        if level > MAX_LEVEL || negative.saturating_add(positive) > MAX_BUCKETS as u64 {
            return Err("a stored summary has an impossible sketch".into());
        }
        Ok(Buckets {
            reader,
            level,
            total,
            zero: Some(zero),
            positive,
            negative,
            first: true,
            index: 0,
        })
    }

    /// The next (sign, index, count): sign 1 for a positive bucket, 0 for the zero bucket
    /// (index 0, its count possibly 0), -1 for a negative one.
    #[inline]
    fn next_bucket(&mut self) -> Result<Option<(i8, i32, u64)>, &'static str> {
        let sign: i8 = if self.positive > 0 {
            self.positive -= 1;
            1
        } else if let Some(zero) = self.zero.take() {
            self.first = true;
            return Ok(Some((0, 0, zero)));
        } else if self.negative > 0 {
            self.negative -= 1;
            -1
        } else {
            return Ok(None);
        };
        let (step, count) = (self.reader.varint()?, self.reader.varint()?);
        if std::mem::take(&mut self.first) {
            self.index = (step >> 1) as i64 ^ -((step & 1) as i64);
        } else if step == 0 {
            return Err("a stored summary has a sketch out of order");
        } else {
            // Positive buckets come by descending index, negative ones by ascending index.
            self.index -= i64::from(sign) * i64::try_from(step).unwrap_or(i64::MAX / 2);
        }
        let index = i32::try_from(self.index)
            .map_err(|_| "a stored summary has a sketch index out of range")?;
        if count == 0 {
            return Err("a stored summary has an empty sketch bucket");
        }
        Ok(Some((sign, index, count)))
    }
}

impl Summary {
    pub fn encode(&self) -> Vec<u8> {
        let buckets = self
            .sketch
            .as_ref()
            .map_or(0, |s| 16 + 4 * (s.positive.len() + s.negative.len()));
        let mut out = Vec::with_capacity(FIXED + buckets);
        out.extend([VERSION, u8::from(self.sketch.is_some())]);
        for x in [
            self.count,
            self.first_time,
            self.last_time,
            self.good,
            self.uncertain,
            self.bad,
        ] {
            out.extend(x.to_le_bytes());
        }
        for x in [
            self.sum,
            self.min,
            self.max,
            self.first_value,
            self.last_value,
            self.mean,
            self.m2,
            self.quality_sum,
        ] {
            out.extend(x.to_le_bytes());
        }
        out.extend(self.flags.to_le_bytes());
        if let Some(s) = &self.sketch {
            out.push(s.level);
            put_varint(&mut out, s.count());
            put_varint(&mut out, s.zero);
            put_varint(&mut out, s.positive.len() as u64);
            put_varint(&mut out, s.negative.len() as u64);
            let mut put_store = |store: &mut dyn Iterator<Item = &(i32, u64)>| {
                let mut previous: Option<i32> = None;
                for &(i, c) in store {
                    let step = match previous {
                        None => ((i << 1) ^ (i >> 31)) as u32 as u64,
                        Some(p) => u64::from(p.abs_diff(i)),
                    };
                    put_varint(&mut out, step);
                    put_varint(&mut out, c);
                    previous = Some(i);
                }
            };
            put_store(&mut s.positive.iter().rev());
            put_store(&mut s.negative.iter());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Summary, String> {
        let stored = Stored::new(bytes)?;
        let mut s = stored.scalars();
        if stored.version == LAYOUT_1 {
            let mut r = Reader(&bytes[FIXED..]);
            if bytes[1] != 0 {
                let [level] = r.take::<1>()?;
                let zero = r.u64()?;
                let (np, nn) = (r.u32()?, r.u32()?);
                s.sketch = Some(Sketch {
                    level,
                    zero,
                    positive: r.store(np)?,
                    negative: r.store(nn)?,
                });
            }
            if !r.0.is_empty() {
                return Err("a stored summary has bytes past its end".into());
            }
        } else if let Some(bytes) = stored.sketch {
            let mut walk = Buckets::open(bytes)?;
            let mut sketch = Sketch {
                level: walk.level,
                ..Sketch::default()
            };
            while let Some((sign, i, c)) = walk.next_bucket()? {
                match sign {
                    -1 => sketch.negative.push((i, c)),
                    0 => sketch.zero = c,
                    _ => sketch.positive.push((i, c)),
                }
            }
            if !walk.reader.0.is_empty() {
                return Err("a stored summary has bytes past its end".into());
            }
            sketch.positive.reverse();
            if sketch.count() != walk.total {
                return Err("a stored summary's sketch does not add up".into());
            }
            s.sketch = Some(sketch);
        }
        Ok(s)
    }
}

/// A stored summary read in place. [`Stored::new`] checks only the fixed fields: reading a
/// mean costs no walk over the sketch. A damaged sketch gives an error where it is read.
pub struct Stored<'a> {
    version: u8,
    bytes: &'a [u8],
    /// Layout 2's sketch bytes.
    sketch: Option<&'a [u8]>,
}

impl<'a> Stored<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Stored<'a>, String> {
        let (fixed, rest) = bytes
            .split_at_checked(FIXED)
            .ok_or_else(|| ENDS_EARLY.to_string())?;
        let (version, has_sketch) = (fixed[0], fixed[1]);
        if version != LAYOUT_1 && version != VERSION {
            return Err(format!(
                "a stored summary has layout {version}, this library reads {LAYOUT_1} and {VERSION}"
            ));
        }
        let sketch = match (version, has_sketch, rest.is_empty()) {
            (LAYOUT_1, _, _) | (_, 0, true) => None,
            (_, 1, _) => Some(rest),
            _ => return Err("a stored summary has bytes past its end".into()),
        };
        Ok(Stored {
            version,
            bytes,
            sketch,
        })
    }

    /// Every field but the sketch.
    pub fn scalars(&self) -> Summary {
        let mut r = Reader(&self.bytes[2..]);
        // FIXED bytes are there: none of these reads can fail.
        let mut i = || r.i64().unwrap_or_default();
        let (count, first_time, last_time, good, uncertain, bad) = (i(), i(), i(), i(), i(), i());
        let mut r = Reader(&self.bytes[2 + 6 * 8..]);
        let mut f = || r.f64().unwrap_or_default();
        let (sum, min, max, first_value, last_value, mean, m2, quality_sum) =
            (f(), f(), f(), f(), f(), f(), f(), f());
        let flags = Reader(&self.bytes[FIXED - 4..FIXED])
            .i32()
            .unwrap_or_default();
        Summary {
            count,
            sum,
            min,
            max,
            first_time,
            first_value,
            last_time,
            last_value,
            mean,
            m2,
            good,
            uncertain,
            bad,
            quality_sum,
            flags,
            sketch: None,
        }
    }

    /// The relative error the sketch guarantees; None without a sketch.
    pub fn relative_error(&self) -> Option<f64> {
        match (self.version, self.sketch) {
            (VERSION, Some(bytes)) => bytes.first().map(|&level| alpha(level)),
            (VERSION, None) => None,
            // Layout 1: level is the first byte after the fixed fields, when there is a sketch.
            _ => (self.bytes[1] != 0)
                .then(|| self.bytes.get(FIXED).map(|&l| alpha(l)))
                .flatten(),
        }
    }

    /// [`Summary::quantile`], reading the sketch where it lies (layout 1 is decoded).
    pub fn quantile(&self, q: f64) -> Result<Option<f64>, String> {
        if self.version == LAYOUT_1 {
            return Ok(Summary::decode(self.bytes)?.quantile(q));
        }
        let Some(bytes) = self.sketch else {
            return Ok(None);
        };
        let mut walk = Buckets::open(bytes)?;
        let (level, total) = (walk.level, walk.total);
        let mut damaged = None;
        let descending = std::iter::from_fn(|| match walk.next_bucket() {
            Ok(bucket) => bucket.map(|(sign, i, c)| ((sign, i), c)),
            Err(e) => {
                damaged = Some(e);
                None
            }
        });
        let q = quantile_of(descending, total, q, true, |(sign, i)| {
            f64::from(sign) * estimate(level, i)
        });
        if let Some(e) = damaged {
            return Err(e.into());
        }
        let bound = |at: usize| Reader(&self.bytes[at..]).f64().unwrap_or_default();
        // min and max: the second and third of the eight-byte floats.
        Ok(q.map(|v| v.clamp(bound(2 + 7 * 8), bound(2 + 8 * 8))))
    }
}
#[cfg(test)]
mod tests {
    use super::super::Reading;
    use super::*;

    fn summary(values: impl IntoIterator<Item = f64>) -> Summary {
        let mut s = Summary {
            sketch: Some(Sketch::default()),
            ..Summary::default()
        };
        for (i, value) in values.into_iter().enumerate() {
            s.add(&Reading {
                time: i as i64,
                value,
                quality: 0.5,
                flags: 3,
                source_quality: (i % 3) as i16,
            });
        }
        s
    }

    /// What 0.5.0 wrote: layout 1, every bucket in 12 bytes.
    fn layout_1(s: &Summary) -> Vec<u8> {
        let mut out = s.without_sketch().encode();
        out[0] = LAYOUT_1;
        if let Some(k) = &s.sketch {
            out[1] = 1;
            out.push(k.level);
            out.extend(k.zero.to_le_bytes());
            out.extend((k.positive.len() as u32).to_le_bytes());
            out.extend((k.negative.len() as u32).to_le_bytes());
            for &(i, c) in k.positive.iter().chain(&k.negative) {
                out.extend(i.to_le_bytes());
                out.extend(c.to_le_bytes());
            }
        }
        out
    }

    fn mixed() -> Summary {
        summary((0..50).map(|i| (i as f64 - 20.0) * 1.7))
    }

    #[test]
    fn round_trips_both_layouts_and_refuses_what_is_not_a_summary() {
        let s = mixed();
        for bytes in [s.encode(), layout_1(&s)] {
            assert_eq!(Summary::decode(&bytes), Ok(s.clone()));
        }
        let plain = s.without_sketch();
        assert_eq!(Summary::decode(&plain.encode()), Ok(plain.clone()));
        assert_eq!(Summary::decode(&layout_1(&plain)), Ok(plain.clone()));
        for bytes in [s.encode(), layout_1(&s)] {
            assert!(Summary::decode(&bytes[..bytes.len() - 1]).is_err());
            assert!(Summary::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        }
        assert!(Summary::decode(&[2, 0]).is_err());
        assert!(Summary::decode(&[]).is_err());
        let mut wrong = s.encode();
        wrong[0] = 3;
        assert!(Summary::decode(&wrong).is_err());
        // Sketches with too many buckets, fewer than they claim, an empty one, two at one
        // index, or a total that is not their sum.
        let damaged = |sketch: &[u8]| {
            let mut bytes = plain.encode();
            bytes[1] = 1;
            bytes.extend(sketch);
            let in_place = Stored::new(&bytes).and_then(|s| s.quantile(0.5));
            (Summary::decode(&bytes).is_err(), in_place.is_err())
        };
        assert_eq!(
            damaged(&[0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]),
            (true, true)
        );
        assert_eq!(damaged(&[0, 3, 0, 0, 3, 2, 1]), (true, true));
        assert_eq!(damaged(&[0, 1, 0, 0, 1, 2, 0]), (true, true));
        assert_eq!(damaged(&[0, 2, 0, 0, 2, 2, 1, 0, 1]), (true, true));
        assert!(damaged(&[0, 5, 0, 0, 1, 2, 1]).0);
    }

    #[test]
    fn layout_2_is_smaller() {
        // A 5-minute bucket of 5-second readings, as the rollup benchmark writes it.
        let s = summary((0..60).map(|k| 50.0 + 10.0 * (k as f64 * 0.1).sin() + (k % 7) as f64));
        let (new, old) = (s.encode().len(), layout_1(&s).len());
        assert!(new * 2 < old, "{new} bytes against {old}");
    }

    #[test]
    fn read_in_place_equals_decoded() {
        let wide = summary(
            (0..3000).map(|i| 1e-6 * 1.01f64.powi(i) * if i % 3 == 0 { -1.0 } else { 1.0 }),
        );
        let zeros = summary([0.0, 0.0, -1.0, 2.0, 0.0]);
        for s in [
            mixed(),
            wide,
            zeros,
            summary([7.5]),
            summary(std::iter::empty()),
        ] {
            for bytes in [s.encode(), layout_1(&s)] {
                let stored = Stored::new(&bytes).unwrap();
                assert_eq!(stored.scalars(), s.without_sketch());
                let error = s.sketch.as_ref().map(Sketch::relative_error);
                assert_eq!(stored.relative_error(), error);
                for q in [0.0, 0.01, 0.25, 0.5, 0.95, 0.999, 1.0, 1.5] {
                    assert_eq!(stored.quantile(q), Ok(s.quantile(q)), "q {q}");
                }
            }
        }
        let plain = mixed().without_sketch().encode();
        assert_eq!(Stored::new(&plain).unwrap().quantile(0.5), Ok(None));
    }
}
