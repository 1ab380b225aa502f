//! Country and US/CA state tables for the normalisers.
