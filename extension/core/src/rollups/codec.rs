//! The stored form of a [`Summary`]: fixed-width little-endian fields, then the sketch's
//! buckets. Decoding is a copy, not a parse, which keeps the fold-in and the accessors cheap
//! (pgrx's default CBOR took microseconds per summary). Version byte first, so that a later
//! layout can still read this one.

use super::{Sketch, Summary};

const VERSION: u8 = 1;
/// version, has-sketch, 15 eight-byte fields, flags.
const FIXED: usize = 2 + 15 * 8 + 4;

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| "a stored summary ends early".to_string())?;
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
    fn store(&mut self, n: u32) -> Result<Vec<(i32, u64)>, String> {
        if self.0.len() < n as usize * 12 {
            return Err("a stored summary ends early".into());
        }
        (0..n).map(|_| Ok((self.i32()?, self.u64()?))).collect()
    }
}

impl Summary {
    pub fn encode(&self) -> Vec<u8> {
        let buckets = self
            .sketch
            .as_ref()
            .map_or(0, |s| 17 + 12 * (s.positive.len() + s.negative.len()));
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
            out.extend(s.zero.to_le_bytes());
            out.extend((s.positive.len() as u32).to_le_bytes());
            out.extend((s.negative.len() as u32).to_le_bytes());
            for &(i, c) in s.positive.iter().chain(&s.negative) {
                out.extend(i.to_le_bytes());
                out.extend(c.to_le_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Summary, String> {
        let mut r = Reader(bytes);
        let [version, has_sketch] = r.take::<2>()?;
        if version != VERSION {
            return Err(format!(
                "a stored summary has layout {version}, this library reads {VERSION}"
            ));
        }
        let mut s = Summary {
            count: r.i64()?,
            first_time: r.i64()?,
            last_time: r.i64()?,
            good: r.i64()?,
            uncertain: r.i64()?,
            bad: r.i64()?,
            sum: r.f64()?,
            min: r.f64()?,
            max: r.f64()?,
            first_value: r.f64()?,
            last_value: r.f64()?,
            mean: r.f64()?,
            m2: r.f64()?,
            quality_sum: r.f64()?,
            flags: r.i32()?,
            sketch: None,
        };
        if has_sketch == 1 {
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
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reading;
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_a_summary() {
        let mut s = Summary {
            sketch: Some(Sketch::default()),
            ..Summary::default()
        };
        for i in 0..50 {
            s.add(&Reading {
                time: i,
                value: (i as f64 - 20.0) * 1.7,
                quality: 0.5,
                flags: 3,
                source_quality: (i % 3) as i16,
            });
        }
        assert_eq!(Summary::decode(&s.encode()), Ok(s.clone()));
        let plain = s.without_sketch();
        assert_eq!(Summary::decode(&plain.encode()), Ok(plain.clone()));
        let bytes = s.encode();
        assert!(Summary::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Summary::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        assert!(Summary::decode(&[2, 0]).is_err());
        assert!(Summary::decode(&[]).is_err());
        let mut huge = plain.encode();
        huge[1] = 1;
        huge.extend([0; 9]);
        huge.extend(u32::MAX.to_le_bytes());
        huge.extend(0u32.to_le_bytes());
        assert!(Summary::decode(&huge).is_err());
    }
}
