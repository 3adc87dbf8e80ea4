//! Frame sources (placeholder).
