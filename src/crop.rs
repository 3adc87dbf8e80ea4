//! FER-style crop (placeholder).
