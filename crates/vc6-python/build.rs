//! Tells the code which Python it is built for (`Py_3_11`, `Py_LIMITED_API`, ...): the
//! buffer protocol of the images needs CPython 3.11's stable ABI or a version-specific build.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
