//! Generated message modules (being written).
