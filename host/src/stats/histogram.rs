//! HDR histograms of microseconds (or of thousandths, for trends), with the
//! summary every report shows and a compact serialised form so that result
//! files merge exactly.

use base64::prelude::{BASE64_STANDARD, Engine as _};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::Serialize;

/// The largest value kept exactly: an hour in microseconds. Larger values are
/// clamped to it.
const HIGHEST: u64 = 3_600_000_000;

/// Three significant digits: a p99 of 123.4 ms is exact to 0.1 ms.
const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram of non-negative integer samples.
#[derive(Debug, Clone)]
pub struct Samples {
    histogram: Histogram<u64>,
}

/// The figures every report shows for a histogram, in the histogram's unit
/// divided by 1000 (milliseconds for microsecond samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Default for Samples {
    fn default() -> Self {
        Self::new()
    }
}

impl Samples {
    /// An empty histogram that grows with the largest value it holds: one
    /// sized for an hour from the start would hold 180 KiB of counters, and
    /// a run keeps one per request name, task and trend.
    pub fn new() -> Self {
        let mut histogram = Histogram::new_with_bounds(1, 2, SIGNIFICANT_DIGITS)
            .expect("the bounds are valid constants");
        histogram.auto(true);
        Self { histogram }
    }

    pub fn record(&mut self, value: u64) {
        // Grows the histogram when needed; past an hour, values are clamped.
        if self.histogram.record(value.min(HIGHEST)).is_err() {
            self.histogram.saturating_record(value);
        }
    }

    /// How many samples are at most `value` (within the histogram's
    /// precision), for cumulative buckets.
    pub fn count_at_most(&self, value: u64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.count_between(0, value)
    }

    /// The sum of the samples (mean times count), divided by 1000.
    pub fn sum(&self) -> f64 {
        self.histogram.mean() * self.histogram.len() as f64 / 1000.0
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The summary, or `None` when nothing was recorded.
    pub fn summary_if_any(&self) -> Option<Summary> {
        (!self.is_empty()).then(|| self.summary())
    }

    pub fn add(&mut self, other: &Samples) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
    }

    pub fn reset(&mut self) {
        self.histogram.reset();
    }

    /// The value at `quantile` (0 to 1), divided by 1000.
    pub fn quantile(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn summary(&self) -> Summary {
        if self.histogram.is_empty() {
            return Summary::default();
        }
        Summary {
            min: self.histogram.min() as f64 / 1000.0,
            // Samples are whole units: more digits in the mean are noise.
            mean: self.histogram.mean().round() / 1000.0,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: self.histogram.max() as f64 / 1000.0,
        }
    }

    /// Reads what [`Samples::encode`] wrote.
    pub fn decode(text: &str) -> Result<Samples, String> {
        let bytes = BASE64_STANDARD
            .decode(text)
            .map_err(|err| format!("a histogram is not base64: {err}"))?;
        let mut histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|err| format!("a histogram does not decode: {err:?}"))?;
        histogram.auto(true);
        Ok(Samples { histogram })
    }

    /// The histogram in HdrHistogram's compressed V2 form, base64-encoded:
    /// the same encoding every HdrHistogram library reads.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.histogram, &mut bytes)
            .expect("serialising into memory cannot fail");
        BASE64_STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_in_thousandths() {
        let mut samples = Samples::new();
        for value in [100_000, 200_000, 300_000] {
            samples.record(value);
        }
        let summary = samples.summary();
        assert!((summary.min - 100.0).abs() < 0.1);
        assert!((summary.max - 300.0).abs() < 0.5);
        assert!((summary.mean - 200.0).abs() < 0.5);
    }

    #[test]
    fn empty_histogram_summarises_to_zero() {
        assert_eq!(Samples::new().summary(), Summary::default());
    }

    #[test]
    fn encoded_histogram_decodes_to_the_same_counts() {
        let mut samples = Samples::new();
        samples.record(1500);
        samples.record(250_000);
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&samples.histogram, &mut bytes)
            .unwrap();
        let back: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.max(), samples.histogram.max());
    }

    #[test]
    fn decoding_gives_back_the_same_figures() {
        let mut samples = Samples::new();
        for value in [3, 1500, 250_000, 9_000_000] {
            samples.record(value);
        }
        let back = Samples::decode(&samples.encode()).unwrap();
        assert_eq!(back.summary(), samples.summary());
        assert_eq!(back.len(), 4);
        assert!(Samples::decode("not base64!").is_err());
    }
}
