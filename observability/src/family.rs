//! Building Prometheus metric families from plain numbers, for values the gateway
//! already counts (its stats are read at scrape time, not mirrored into counters).

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// One metric family under construction: a name, a help text, a type, its series.
pub struct Family {
    inner: MetricFamily,
}

impl Family {
    pub fn counter(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::COUNTER)
    }

    pub fn gauge(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::GAUGE)
    }

    fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut inner = MetricFamily::default();
        inner.set_name(name.to_owned());
        inner.set_help(help.to_owned());
        inner.set_field_type(kind);
        Family { inner }
    }

    /// Adds one series with these labels.
    pub fn with(mut self, labels: &[(&str, &str)], value: f64) -> Family {
        let mut metric = Metric::default();
        metric.set_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*name).to_owned());
                    pair.set_value((*value).to_owned());
                    pair
                })
                .collect(),
        );
        match self.inner.get_field_type() {
            MetricType::COUNTER => {
                let mut counter = Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
            _ => {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
        }
        self.inner.mut_metric().push(metric);
        self
    }

    /// Adds the one series of an unlabelled family.
    pub fn value(self, value: u64) -> Family {
        self.with(&[], value as f64)
    }

    pub fn build(self) -> MetricFamily {
        self.inner
    }
}
