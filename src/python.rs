//! The PyO3 bindings: the only module that knows about Python. Everything here converts between
//! Python objects and the plain-Rust core, maps errors to `convapi`'s exception classes once, and
//! releases the GIL around network calls.

use crate::error::{SendError, ValidationError};
use crate::event::{parse_inputs, BuildOptions};
use crate::input::Input;
use crate::normalize::Field;
use crate::out::{Key, Out};
use crate::platform::{Platform, PlatformSpec, Request, Target, ALL};
use crate::sender::{self, AccessToken, Outcome, RequestLog, SenderConfig};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::Borrowed as PyBorrowed;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("convapi._exceptions")?.unbind())
        })
        .map(|m| m.bind(py))
}

fn validation_error(py: Python<'_>, err: &ValidationError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = exceptions(py)?.getattr("ValidationError")?;
        let instance = class.call1((err.to_string(), err.field.clone()))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

fn send_error(py: Python<'_>, err: &SendError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = exceptions(py)?;
        let secs = |d: &Option<Duration>| d.map(|d| d.as_secs_f64());
        let instance = match err {
            SendError::Validation(v) => return Ok(validation_error(py, v)),
            SendError::Api {
                platform,
                code,
                subcode,
                message,
                trace_id,
                http_status,
                retryable,
                attempts,
                events_sent,
                sent,
                retry_after,
            } => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("platform", platform)?;
                kwargs.set_item("code", code)?;
                kwargs.set_item("subcode", subcode)?;
                kwargs.set_item("message", message)?;
                kwargs.set_item("trace_id", trace_id)?;
                kwargs.set_item("http_status", http_status)?;
                kwargs.set_item("retryable", retryable)?;
                kwargs.set_item("attempts", attempts)?;
                kwargs.set_item("events_sent", events_sent)?;
                kwargs.set_item("sent", sent.clone())?;
                kwargs.set_item("retry_after", secs(retry_after))?;
                module
                    .getattr("ApiError")?
                    .call((err.to_string(),), Some(&kwargs))?
            }
            SendError::Transport {
                platform,
                message,
                retryable,
                attempts,
                events_sent,
                sent,
                retry_after,
            } => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("platform", platform)?;
                kwargs.set_item("message", message)?;
                kwargs.set_item("retryable", retryable)?;
                kwargs.set_item("attempts", attempts)?;
                kwargs.set_item("events_sent", events_sent)?;
                kwargs.set_item("sent", sent.clone())?;
                kwargs.set_item("retry_after", secs(retry_after))?;
                module
                    .getattr("TransportError")?
                    .call((err.to_string(),), Some(&kwargs))?
            }
            SendError::Partial {
                platform,
                failed,
                sent,
                events_sent,
                attempts,
                trace_id,
                http_status,
            } => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("platform", platform)?;
                kwargs.set_item("failed", failed.clone())?;
                kwargs.set_item("sent", sent.clone())?;
                kwargs.set_item("events_sent", events_sent)?;
                kwargs.set_item("attempts", attempts)?;
                kwargs.set_item("trace_id", trace_id)?;
                kwargs.set_item("http_status", http_status)?;
                module
                    .getattr("PartialSendError")?
                    .call((err.to_string(),), Some(&kwargs))?
            }
        };
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

/// Input trees that borrow their strings from the Python objects they were read from.
///
/// Every Python string the trees point into is held here by a strong reference, so the text
/// stays where it is for as long as the trees live, also with the GIL released while another
/// thread replaces values in the caller's dicts (a `str` is immutable, and its UTF-8 form is
/// cached inside the object). The trees are only handed out for the borrow of `self`, and are
/// dropped before the references (fields drop in declaration order).
struct Borrowed {
    inputs: Vec<Input<'static>>,
    _strings: Vec<Py<PyAny>>,
}

impl Borrowed {
    fn inputs(&self) -> &[Input<'_>] {
        &self.inputs
    }
}

/// One step of the path to a value inside an event: a dict key or a list position.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

/// The path as the event model names fields (`custom.contents[1].id`); `fallback` when empty.
fn render_path(path: &[Seg], fallback: &str) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if k.is_empty() || k.contains(['.', '[', ']']) => {
                out.push_str(&format!("[{k:?}]"));
            }
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// A `ValidationError` for the value at `path`.
fn path_error(py: Python<'_>, path: &[Seg], message: impl Into<String>) -> PyErr {
    validation_error(
        py,
        &ValidationError::new(render_path(path, "value"), message),
    )
}

/// Reads Python objects into input trees that borrow their strings.
///
/// In the default mode every string a tree points into is held by a strong reference in
/// `keep`, so the trees may outlive the GIL (see [`Borrowed`]). In the borrowing mode
/// ([`Walk::borrowing`]) nothing is referenced: the caller keeps the GIL from the walk until the
/// trees are dropped and runs no Python code in between, so every object stays where the walk
/// found it (the events it walks are held by the caller). A value the walk could only read by
/// running Python code (a date, a `Decimal`, a subclass), or one it cannot read (a string with
/// a lone surrogate: the exception raised for it may set off a garbage collection), stops such a
/// walk before any of it is read again, with [`Walk::stopped`] set: the caller walks again in
/// the default mode, which also names the field of any error.
struct Walk {
    keep: Vec<Py<PyAny>>,
    borrowing: bool,
    stopped: bool,
}

impl Walk {
    /// A walk keeping references, with room for those of `events` events (about 40 strings
    /// and keys each).
    fn keeping(events: usize) -> Self {
        Self {
            keep: Vec::with_capacity(events * 40),
            borrowing: false,
            stopped: false,
        }
    }

    fn borrowing() -> Self {
        Self {
            keep: Vec::new(),
            borrowing: true,
            stopped: false,
        }
    }

    /// The UTF-8 text of `s` as a `'static` borrow, `s` held by `keep` unless borrowing.
    ///
    /// Safety: the caller must not let the returned borrow outlive `keep`'s references (or,
    /// borrowing, the GIL it holds and the objects the walk reads): the borrow only ever ends up
    /// in trees owned with `keep` ([`Borrowed`]) or dropped before the GIL is given up.
    unsafe fn text(
        &mut self,
        s: PyBorrowed<'_, '_, PyString>,
        path: &[Seg],
    ) -> PyResult<&'static str> {
        // A str holding a lone surrogate ('\ud800', which json.loads can make) has no UTF-8 form.
        // The exception raised for it may have set off a garbage collection (Python code):
        // borrowing, the walk stops and is done again keeping references, which names the field.
        let text: *const str = match s.to_str() {
            Ok(text) => text,
            Err(_) if self.borrowing => return Err(self.stop()),
            Err(_) => {
                return Err(path_error(
                    s.py(),
                    path,
                    "is not valid text (it holds a lone surrogate)",
                ))
            }
        };
        if !self.borrowing {
            self.keep.push(s.to_owned().into_any().unbind());
        }
        // SAFETY: the object is held by `keep` or by the caller (see above); its text never
        // moves or changes.
        Ok(unsafe { &*text })
    }

    /// The name of a dict key that is not one of the interned names the walk knows by address.
    /// It comes held by a reference of its own: reading it may raise (a lone surrogate, a key's
    /// `repr`), and the exception may set off a garbage collection, whose finalisers could
    /// change the dict.
    fn key_name(&mut self, key: Bound<'_, PyAny>, path: &[Seg]) -> PyResult<&'static str> {
        let text = match key.cast::<PyString>() {
            Ok(text) => text,
            Err(_) if self.borrowing => return Err(self.stop()),
            Err(_) => {
                let shown = key
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| "?".to_string());
                return Err(validation_error(
                    key.py(),
                    &ValidationError::new(
                        render_path(path, "event"),
                        format!("has a key that is not a string: {shown}"),
                    ),
                ));
            }
        };
        match text.to_str().ok().and_then(known_key) {
            Some(name) => Ok(name),
            // A lone surrogate has no text: `text` names the field for it (or stops a
            // borrowing walk).
            // SAFETY: the borrow goes into a tree owned with `keep`, or, borrowing, is dropped
            // before the GIL is given up (the dict holds the key meanwhile).
            None => unsafe { self.text(text.as_borrowed(), path) },
        }
    }

    /// A reference of its own to a container whose items the walk borrows; none when
    /// borrowing (the caller holds everything then).
    fn hold<'py>(&self, obj: PyBorrowed<'_, 'py, PyAny>) -> Option<Bound<'py, PyAny>> {
        (!self.borrowing).then(|| obj.to_owned())
    }

    /// Stops a borrowing walk before Python code would run (see [`Walk`]).
    fn stop(&mut self) -> PyErr {
        self.stopped = true;
        pyo3::exceptions::PyRuntimeError::new_err("the walk needs references of its own")
    }

    /// Python object → input value. Dates and datetimes become ISO strings (an `event_time`
    /// datetime becomes Unix seconds), `Decimal` and `Fraction` become numbers. Strings and keys
    /// are borrowed from the objects, never copied. `field` names the value in errors when it
    /// is not inside an event (`normalize`'s field).
    fn input(
        &mut self,
        obj: &Bound<'_, PyAny>,
        field: Option<&'static str>,
    ) -> PyResult<Input<'static>> {
        let mut path: Vec<Seg> = field.map(Seg::Key).into_iter().collect();
        let mut out = Input::Null;
        self.at(obj.as_borrowed(), &mut path, 0, &mut out)?;
        Ok(out)
    }

    /// Reads `obj` into `out` (written in place: no input value is moved through a return).
    fn at(
        &mut self,
        obj: PyBorrowed<'_, '_, PyAny>,
        path: &mut Vec<Seg>,
        depth: usize,
        out: &mut Input<'static>,
    ) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(path_error(
                obj.py(),
                path,
                format!("is nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        if let Some(fast) = self.exact_builtin(obj, path, depth, out) {
            return fast;
        }
        if self.borrowing {
            return Err(self.stop());
        }
        set(out, self.general(obj, path, depth)?);
        Ok(())
    }

    /// [`Walk::at`] for the values that are not of an exact built-in type.
    fn general(
        &mut self,
        obj: PyBorrowed<'_, '_, PyAny>,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> PyResult<Input<'static>> {
        // Anything else may run Python code below (`hasattr` and `isoformat` of a custom object),
        // and may have come as a borrowed reference out of a dict or list that this code could
        // change: held by a reference of its own until it has been read.
        let owned = obj.to_owned();
        let obj = &owned;
        if let Ok(s) = obj.cast::<PyString>() {
            // SAFETY: the borrow goes into a tree owned with `keep` (`text`'s contract).
            return Ok(Input::Str(Cow::Borrowed(unsafe {
                self.text(s.as_borrowed(), path)?
            })));
        }
        if obj.is_none() {
            return Ok(Input::Null);
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            let mut map = Input::Null;
            self.dict(d.as_any().as_borrowed(), path, depth, &mut map)?;
            return Ok(map);
        }
        if obj.is_instance_of::<PyBool>() {
            return Ok(Input::Bool(obj.extract::<bool>()?));
        }
        if obj.is_instance_of::<PyInt>() {
            if let Ok(i) = obj.extract::<i64>() {
                return Ok(Input::Int(i));
            }
            // Beyond i64: its digits, so ids keep every one.
            return Ok(Input::Str(Cow::Owned(obj.str()?.to_str()?.to_owned())));
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return Ok(Input::Float(f.value()));
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            let mut items = Vec::with_capacity(obj.len()?);
            for (i, item) in obj.try_iter()?.enumerate() {
                path.push(Seg::Index(i));
                let mut value = Input::Null;
                let read =
                    item.and_then(|item| self.at(item.as_borrowed(), path, depth + 1, &mut value));
                path.pop();
                read?;
                items.push(value);
            }
            return Ok(Input::List(items));
        }
        let key = path.iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(*k),
            Seg::Index(_) => None,
        });
        if key == Some("event_time") && obj.hasattr("timestamp")? {
            let ts: f64 = obj.call_method0("timestamp")?.extract()?;
            return Ok(Input::Int(ts as i64));
        }
        if obj.hasattr("isoformat")? {
            return Ok(Input::Str(Cow::Owned(
                obj.call_method0("isoformat")?.extract::<String>()?,
            )));
        }
        let type_name = obj.get_type().name()?.to_string();
        if type_name == "Decimal" || type_name == "Fraction" {
            // A signaling NaN refuses float(): not a number, said for the field.
            let f: f64 = obj
                .extract()
                .or_else(|_| obj.call_method0("__float__")?.extract())
                .map_err(|_: PyErr| path_error(obj.py(), path, "is not a number"))?;
            return Ok(if f.is_finite() {
                Input::Float(f)
            } else {
                Input::Null
            });
        }
        Err(PyTypeError::new_err(format!(
            "{}: cannot send a value of type {type_name}",
            render_path(path, "value")
        )))
    }

    /// [`Walk::at`] for objects of the exact built-in types events are made of (`str`, `None`,
    /// `dict`, `list`, `int`, `float`, `bool`), told apart by one type-pointer comparison each;
    /// `None` for anything else (subclasses included), which takes the general path.
    ///
    /// Dict entries and list items are read as borrowed references. That is sound because the
    /// container is held (by a reference, or borrowing by the caller) while it is walked, an item
    /// is read before any Python code can run, and every object the walk goes on holding is
    /// referenced on its own: strings in `keep` (or by their containers, borrowing: no Python
    /// code runs then), other objects by a reference [`Walk::at`] takes for them before it runs
    /// any Python code. Python code (a custom object's `isoformat`, say) that changes a container
    /// meanwhile can make the walk see an entry twice or miss one, never read freed memory:
    /// `PyDict_Next` and `PyList_GetItem` check their position against the container as it is.
    fn exact_builtin(
        &mut self,
        obj: PyBorrowed<'_, '_, PyAny>,
        path: &mut Vec<Seg>,
        depth: usize,
        out: &mut Input<'static>,
    ) -> Option<PyResult<()>> {
        use pyo3::ffi;
        let py = obj.py();
        let ptr = obj.as_ptr();
        // SAFETY: `obj` is a live object; the type statics are the interpreter's own.
        let ty = unsafe { ffi::Py_TYPE(ptr) };
        unsafe {
            if ty == &raw mut ffi::PyUnicode_Type {
                // SAFETY: exact str; the borrow goes into a tree owned with `keep`.
                let s = obj.cast_unchecked::<PyString>();
                return Some(
                    self.text(s, path)
                        .map(|t| set(out, Input::Str(Cow::Borrowed(t)))),
                );
            }
            if ptr == ffi::Py_None() {
                return Some(Ok(()));
            }
            if ty == &raw mut ffi::PyBool_Type {
                set(out, Input::Bool(ptr == ffi::Py_True()));
                return Some(Ok(()));
            }
            if ty == &raw mut ffi::PyFloat_Type {
                set(out, Input::Float(ffi::PyFloat_AsDouble(ptr)));
                return Some(Ok(()));
            }
            if ty == &raw mut ffi::PyLong_Type {
                // The overflow is reported by a flag, not an exception: no object is created,
                // so no garbage collection (and no finaliser's Python code) can run here.
                let mut overflow: std::os::raw::c_int = 0;
                let i = ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflow);
                if overflow != 0 {
                    // Beyond i64: the general path keeps its digits.
                    return None;
                }
                set(out, Input::Int(i));
                return Some(Ok(()));
            }
            if ty == &raw mut ffi::PyDict_Type {
                return Some(self.dict(obj, path, depth, out));
            }
            if ty == &raw mut ffi::PyList_Type {
                // Held while walked (its items are borrowed from it).
                let list = self.hold(obj);
                let mut items = Vec::with_capacity(ffi::PyList_Size(ptr).max(0) as usize);
                let mut i: ffi::Py_ssize_t = 0;
                while i < ffi::PyList_Size(ptr) {
                    let item = ffi::PyList_GetItem(ptr, i);
                    if item.is_null() {
                        return Some(Err(PyErr::fetch(py)));
                    }
                    // SAFETY: a borrowed reference, read now (see above).
                    let item = PyBorrowed::from_ptr(py, item);
                    path.push(Seg::Index(i as usize));
                    let read = self.at(item, path, depth + 1, push_item(&mut items));
                    path.pop();
                    if let Err(e) = read {
                        return Some(Err(e));
                    }
                    i += 1;
                }
                drop(list);
                set(out, Input::List(items));
                return Some(Ok(()));
            }
        }
        None
    }

    /// The entries of a dict, read as borrowed references (see [`Walk::exact_builtin`]) while
    /// `dict` is held; its keys must be strings.
    fn dict(
        &mut self,
        dict: PyBorrowed<'_, '_, PyAny>,
        path: &mut Vec<Seg>,
        depth: usize,
        out: &mut Input<'static>,
    ) -> PyResult<()> {
        use pyo3::ffi;
        let py = dict.py();
        let ptr = dict.as_ptr();
        // Held while walked (its entries are borrowed from it).
        let held = self.hold(dict);
        let keys = known_keys(py);
        // SAFETY: `dict` is a dict, held (see above).
        let mut entries = Vec::with_capacity(unsafe { ffi::PyDict_Size(ptr) }.max(0) as usize);
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: PyDict_Next hands out borrowed references to the dict's current entries.
        while unsafe { ffi::PyDict_Next(ptr, &mut pos, &mut k, &mut v) } != 0 {
            // SAFETY: borrowed references, read before any Python code runs.
            let (key, value) =
                unsafe { (PyBorrowed::from_ptr(py, k), PyBorrowed::from_ptr(py, v)) };
            let name: &'static str = match keys.by_address(k) {
                Some(name) => name,
                None => self.key_name(key.to_owned(), path)?,
            };
            path.push(Seg::Key(name));
            let read = self.at(value, path, depth + 1, push_entry(&mut entries, name));
            path.pop();
            read?;
        }
        drop(held);
        set(out, Input::Map(entries));
        Ok(())
    }
}

/// Writes `value` over `out`, which the walk always hands over holding `Input::Null` (nothing to
/// drop: no drop call for it).
#[inline(always)]
fn set(out: &mut Input<'static>, value: Input<'static>) {
    debug_assert!(matches!(out, Input::Null));
    // SAFETY: `out` is a valid, exclusive place; the Null it held owns nothing, so overwriting
    // it without dropping it leaks nothing.
    unsafe { std::ptr::write(out, value) }
}

/// Appends the entry `name: null` to `entries` and returns its value, written in place (no
/// entry built on the stack and copied in).
#[inline(always)]
fn push_entry<'e>(
    entries: &'e mut Vec<(Cow<'static, str>, Input<'static>)>,
    name: &'static str,
) -> &'e mut Input<'static> {
    entries.reserve(1);
    let len = entries.len();
    // SAFETY: one free slot was reserved at `len`; both fields are written before the length
    // covers it, and the returned borrow is of the initialised value.
    unsafe {
        let slot = entries.as_mut_ptr().add(len);
        std::ptr::addr_of_mut!((*slot).0).write(Cow::Borrowed(name));
        std::ptr::addr_of_mut!((*slot).1).write(Input::Null);
        entries.set_len(len + 1);
        &mut (*slot).1
    }
}

/// Appends `null` to `items` and returns it, to be written in place.
#[inline(always)]
fn push_item<'e>(items: &'e mut Vec<Input<'static>>) -> &'e mut Input<'static> {
    items.reserve(1);
    let len = items.len();
    // SAFETY: as in `push_entry`.
    unsafe {
        let slot = items.as_mut_ptr().add(len);
        slot.write(Input::Null);
        items.set_len(len + 1);
        &mut *slot
    }
}

/// How deep an event's dicts and lists may nest (an event needs 4 levels; custom extras get
/// the rest). Deeper input is refused instead of recursing until the stack overflows.
const MAX_DEPTH: usize = 32;

/// An error about `normalize`'s value, named by `field` as the caller gave it.
fn renamed(py: Python<'_>, err: PyErr, field: &str) -> PyErr {
    let rename = || -> PyResult<PyErr> {
        let value = err.value(py);
        let class = exceptions(py)?.getattr("ValidationError")?;
        let text = value.str()?.to_string();
        if value.is_instance(&class)? {
            let inner: String = value.getattr("field")?.extract()?;
            let rule = text.strip_prefix(&format!("{inner}: ")).unwrap_or(&text);
            return Ok(validation_error(py, &ValidationError::new(field, rule)));
        }
        if err.is_instance_of::<PyTypeError>(py) {
            let rule = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
            return Ok(PyTypeError::new_err(format!("{field}: {rule}")));
        }
        Ok(err.clone_ref(py))
    };
    rename().unwrap_or(err)
}

/// The names the event model reads, sorted (checked when compiling): a dict key equal to one of them is
/// borrowed from here instead of from the Python string (no reference kept for it).
const KNOWN_KEYS: [&str; 71] = [
    "action_source",
    "ad_personalization",
    "ad_user_data",
    "brand",
    "category",
    "city",
    "click_id",
    "client_id",
    "client_ip_address",
    "client_user_agent",
    "consent",
    "content_category",
    "content_id",
    "content_ids",
    "content_name",
    "content_type",
    "contents",
    "country",
    "ct",
    "currency",
    "custom",
    "custom_data",
    "date_of_birth",
    "db",
    "em",
    "email",
    "engagement_time_msec",
    "epik",
    "event_id",
    "event_name",
    "event_source_url",
    "event_time",
    "external_id",
    "fbc",
    "fbp",
    "first_name",
    "fn",
    "ga",
    "ge",
    "gender",
    "id",
    "ip",
    "item_price",
    "last_name",
    "limited_data_use",
    "ln",
    "locale",
    "num_items",
    "opt_out",
    "order_id",
    "partner_id",
    "ph",
    "phone",
    "price",
    "quantity",
    "query",
    "referrer_url",
    "search_string",
    "session_id",
    "st",
    "state",
    "status",
    "title",
    "ttclid",
    "ttp",
    "user",
    "user_agent",
    "user_data",
    "value",
    "zip",
    "zp",
];

/// Whether `keys` is in strictly ascending byte order (checked when compiling, below).
const fn strictly_sorted(keys: &[&str]) -> bool {
    let mut i = 1;
    while i < keys.len() {
        let (a, b) = (keys[i - 1].as_bytes(), keys[i].as_bytes());
        let mut j = 0;
        loop {
            if j == a.len() && j < b.len() {
                break; // a is a proper prefix of b
            }
            if j == a.len() || j == b.len() || a[j] > b[j] {
                return false;
            }
            if a[j] < b[j] {
                break;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const _: () = assert!(strictly_sorted(&KNOWN_KEYS), "KNOWN_KEYS must be sorted");

/// The `'static` name of a key the event model reads (see [`KNOWN_KEYS`]).
fn known_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS.binary_search(&key).ok().map(|i| KNOWN_KEYS[i])
}

/// The interned Python strings of [`KNOWN_KEYS`], found by address: a dict written in Python
/// source (`{"email": ...}`) has these very objects as its keys, so the walk names them without
/// reading their text. Other keys (from `json.loads`, say) are compared by text.
struct KnownKeys {
    /// Open addressing by address: (address, 1 + index in KNOWN_KEYS), 0 = empty.
    slots: [(usize, u8); 256],
    /// The strings themselves, held so their addresses stay theirs.
    _held: Vec<Py<PyString>>,
}

impl KnownKeys {
    fn slot(address: usize) -> usize {
        // Object addresses are 16-byte aligned: the bits above spread well enough.
        (((address as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
    }

    fn by_address(&self, key: *mut pyo3::ffi::PyObject) -> Option<&'static str> {
        let address = key as usize;
        let mut i = Self::slot(address);
        loop {
            let (held, index) = self.slots[i];
            if held == address {
                return Some(KNOWN_KEYS[usize::from(index) - 1]);
            }
            if held == 0 {
                return None;
            }
            i = (i + 1) % self.slots.len();
        }
    }
}

static KNOWN_KEY_OBJECTS: PyOnceLock<KnownKeys> = PyOnceLock::new();

fn known_keys(py: Python<'_>) -> &KnownKeys {
    KNOWN_KEY_OBJECTS.get_or_init(py, || {
        let mut table = KnownKeys {
            slots: [(0, 0); 256],
            _held: Vec::with_capacity(KNOWN_KEYS.len()),
        };
        for (index, name) in KNOWN_KEYS.iter().enumerate() {
            let s = PyString::intern(py, name);
            let address = s.as_ptr() as usize;
            let mut i = KnownKeys::slot(address);
            while table.slots[i].0 != 0 {
                i = (i + 1) % table.slots.len();
            }
            table.slots[i] = (address, index as u8 + 1);
            table._held.push(s.unbind());
        }
        table
    })
}

/// Passes a pointer-sized key through: the map below is keyed by addresses, already spread.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type KeyCache = HashMap<usize, Py<PyString>, BuildHasherDefault<AddressHasher>>;
static KEY_CACHE: PyOnceLock<Mutex<KeyCache>> = PyOnceLock::new();

/// The builders' own keys are `'static` strings: each becomes one interned Python string, found
/// again by the literal's address (and length, for literals sharing a prefix) on every call.
fn static_key<'py>(py: Python<'py>, key: &'static str) -> Bound<'py, PyString> {
    let cache = KEY_CACHE.get_or_init(py, || Mutex::new(KeyCache::default()));
    let Ok(mut cache) = cache.lock() else {
        return PyString::intern(py, key);
    };
    let id = (key.as_ptr() as usize) ^ (key.len() << 48);
    cache
        .entry(id)
        .or_insert_with(|| PyString::intern(py, key).unbind())
        .bind(py)
        .clone()
}

/// Payload tree → Python objects.
fn out_to_py(py: Python<'_>, out: &Out<'_>) -> PyResult<Py<PyAny>> {
    Ok(match out {
        Out::Str(s) => PyString::new(py, s).into_any().unbind(),
        Out::String(s) => PyString::new(py, s).into_any().unbind(),
        Out::Digest(d) => PyString::new(py, Out::digest_str(d)).into_any().unbind(),
        Out::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Out::Num(n) => number_to_py(py, n)?,
        Out::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Out::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(out_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Out::Obj(entries) => {
            let dict = PyDict::new(py);
            for (k, v) in entries {
                let value = out_to_py(py, v)?;
                match k {
                    Key::Static(k) => dict.set_item(static_key(py, k), value)?,
                    Key::Dyn(k) => dict.set_item(PyString::new(py, k), value)?,
                }
            }
            dict.into_any().unbind()
        }
        Out::Json(v) => to_py(py, v)?,
    })
}

fn number_to_py(py: Python<'_>, n: &Number) -> PyResult<Py<PyAny>> {
    Ok(if let Some(i) = n.as_i64() {
        i.into_pyobject(py)?.into_any().unbind()
    } else if let Some(u) = n.as_u64() {
        u.into_pyobject(py)?.into_any().unbind()
    } else {
        n.as_f64()
            .unwrap_or(f64::NAN)
            .into_pyobject(py)?
            .into_any()
            .unbind()
    })
}

/// JSON value → Python object.
fn to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => number_to_py(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// A `ValidationError` raised while reading event `i`, with its field under `events[i]`, as
/// the event model names the fields of its own errors.
fn within_event(py: Python<'_>, err: PyErr, i: usize) -> PyErr {
    let prefixed = || -> PyResult<PyErr> {
        let class = exceptions(py)?.getattr("ValidationError")?;
        let value = err.value(py);
        if !value.is_instance(&class)? {
            return Ok(err.clone_ref(py));
        }
        let field: String = value.getattr("field")?.extract()?;
        let message = value.str()?.to_string();
        let rule = message
            .strip_prefix(&format!("{field}: "))
            .unwrap_or(&message)
            .to_string();
        Ok(validation_error(
            py,
            &ValidationError::new(field, rule).within(&format!("events[{i}]")),
        ))
    };
    prefixed().unwrap_or(err)
}

/// A list (or tuple) of event dicts, or one event dict.
fn events_arg(events: &Bound<'_, PyAny>) -> PyResult<Borrowed> {
    if events.is_instance_of::<PyDict>() {
        let mut walk = Walk::keeping(1);
        let inputs = vec![walk.input(events, None)?];
        return Ok(Borrowed {
            inputs,
            _strings: walk.keep,
        });
    }
    if events.is_instance_of::<PyList>() || events.is_instance_of::<PyTuple>() {
        let n = events.len()?;
        let mut inputs = Vec::with_capacity(n);
        let mut walk = Walk::keeping(n);
        for (i, item) in events.try_iter()?.enumerate() {
            let input = walk
                .input(&item?, None)
                .map_err(|e| within_event(events.py(), e, i))?;
            inputs.push(input);
        }
        return Ok(Borrowed {
            inputs,
            _strings: walk.keep,
        });
    }
    Err(PyTypeError::new_err(
        "events must be a list of event dicts (or one event dict)",
    ))
}

/// The options of one call: the clock read once for all its events (not once per event).
fn options(strict: bool) -> BuildOptions {
    let now = BuildOptions::default().now();
    BuildOptions {
        strict,
        now: Some(now),
    }
}

/// Normalise one match key as the platforms specify; the phone comes back in E.164 with `+`.
#[pyfunction]
#[pyo3(signature = (field, value, country=None))]
fn normalize(
    py: Python<'_>,
    field: &str,
    value: &Bound<'_, PyAny>,
    country: Option<&str>,
) -> PyResult<String> {
    let mut walk = Walk::keeping(0);
    // The value is named by the field as given, whatever is wrong with it (and wherever).
    let walked = walk.input(value, None).map_err(|e| renamed(py, e, field));
    let text = match walked? {
        Input::Str(s) => s.into_owned(),
        Input::Int(i) => i.to_string(),
        Input::Float(f) if f.is_finite() => {
            Number::from_f64(f).map_or_else(String::new, |n| n.to_string())
        }
        _ => {
            return Err(validation_error(
                py,
                &ValidationError::new(field, "must be a string"),
            ))
        }
    };
    crate::normalize::normalize(field, &text, country).map_err(|e| validation_error(py, &e))
}

/// SHA-256 hex of the UTF-8 value; a value that already is a digest passes through lowercased.
#[pyfunction]
fn hash_value(value: &str) -> String {
    crate::normalize::hash_value(value)
}

/// TikTok's current name for a Meta-style event name.
#[pyfunction]
fn tiktok_event_name(name: &str) -> String {
    crate::tiktok::tiktok_event_name(name).to_string()
}

/// The platform called `name`, or a `ValueError` naming the known ones.
fn platform_arg(name: &str) -> PyResult<&'static PlatformSpec> {
    Platform::from_name(name)
        .map(Platform::spec)
        .ok_or_else(|| {
            let known: Vec<&str> = ALL.iter().map(|p| p.as_str()).collect();
            pyo3::exceptions::PyValueError::new_err(format!(
                "unknown platform {name:?}: expected one of {}",
                known.join(", ")
            ))
        })
}

/// The request options, refusing one the platform does not take (a `test_event_code` for
/// Pinterest, say) instead of ignoring it silently.
fn request_arg(
    spec: &PlatformSpec,
    test_event_code: Option<&str>,
    test: bool,
) -> PyResult<Request> {
    let given = [
        ("test_event_code", test_event_code.is_some()),
        ("test", test),
    ];
    for (option, set) in given {
        if set && !spec.options.contains(&option) {
            return Err(PyTypeError::new_err(format!(
                "{option} does not apply to the {} (its options: {})",
                spec.label,
                spec.options.join(", ")
            )));
        }
    }
    Ok(Request {
        test_event_code: test_event_code.map(|c| c.trim().to_string()),
        test,
    })
}

/// TikTok's body names its pixel; the others' bodies name no destination.
fn target_arg(py: Python<'_>, spec: &PlatformSpec, pixel_code: Option<&str>) -> PyResult<Target> {
    match (spec.platform, pixel_code) {
        (Platform::TikTok, Some(code)) if !code.trim().is_empty() => Ok(Target {
            id: code.trim().to_string(),
            api_version: None,
        }),
        (Platform::TikTok, _) => Err(validation_error(
            py,
            &ValidationError::new("pixel_code", "is required"),
        )),
        (_, Some(_)) => Err(PyTypeError::new_err(format!(
            "pixel_code applies to TikTok only, not to the {}",
            spec.label
        ))),
        (_, None) => Ok(crate::platform::NO_TARGET.clone()),
    }
}

/// The body of one request to `platform`, as a dict (no secret in it).
#[pyfunction]
#[pyo3(signature = (platform, events, *, pixel_code=None, test_event_code=None, test=false, strict=false))]
#[allow(clippy::too_many_arguments)]
fn build_payload(
    py: Python<'_>,
    platform: &str,
    events: &Bound<'_, PyAny>,
    pixel_code: Option<&str>,
    test_event_code: Option<&str>,
    test: bool,
    strict: bool,
) -> PyResult<Py<PyAny>> {
    let spec = platform_arg(platform)?;
    let request = request_arg(spec, test_event_code, test)?;
    let target = target_arg(py, spec, pixel_code)?;
    let events = events_arg(events)?;
    let parsed =
        parse_inputs(events.inputs(), &options(strict)).map_err(|e| validation_error(py, &e))?;
    let body = spec
        .build(&parsed, &target, &request)
        .map_err(|e| validation_error(py, &e))?;
    out_to_py(py, &body)
}

/// Batches at least this large let other threads run while they are built (a thread switch
/// costs more than building a few events): with the GIL released while written, or, for chunks
/// read borrowing (which need the GIL until written), by releasing it between chunks.
const RELEASE_GIL_FROM_EVENTS: usize = 64;

thread_local! {
    /// The last body's buffer, kept so the next one is written into memory already mapped.
    static BODY_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The exact bytes the platform's sender posts for `events` (less Meta's `access_token`,
/// which the sender splices in): equal as JSON to `build_payload`.
#[pyfunction]
#[pyo3(signature = (platform, events, *, pixel_code=None, test_event_code=None, test=false, strict=false))]
#[allow(clippy::too_many_arguments)]
fn encode_payload<'py>(
    py: Python<'py>,
    platform: &str,
    events: &Bound<'_, PyAny>,
    pixel_code: Option<&str>,
    test_event_code: Option<&str>,
    test: bool,
    strict: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let spec = platform_arg(platform)?;
    let request = request_arg(spec, test_event_code, test)?;
    let target = target_arg(py, spec, pixel_code)?;
    if let Some(stream) = spec.stream_body {
        return encode_streamed(py, spec, stream, events, &target, &request, strict);
    }
    let events = events_arg(events)?;
    let inputs = events.inputs();
    let opts = options(strict);
    let write = || -> Result<Vec<u8>, ValidationError> {
        let parsed = parse_inputs(inputs, &opts)?;
        let mut buf = BODY_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        buf.clear();
        spec.encode(&parsed, &target, &request, &mut buf)?;
        Ok(buf)
    };
    let buf = if inputs.len() >= RELEASE_GIL_FROM_EVENTS {
        py.detach(write)
    } else {
        write()
    }
    .map_err(|e| validation_error(py, &e))?;
    let bytes = PyBytes::new(py, &buf);
    BODY_BUFFER.with(|b| *b.borrow_mut() = buf);
    Ok(bytes)
}

/// Events read from Python, parsed and written per chunk: each chunk's dicts are read with the
/// GIL held, then parsed and written with it released (from 64 events), so every event is
/// written while its input is still in the cache instead of after the whole batch was read.
const STREAM_CHUNK: usize = 32;

/// Reads a chunk of events into `inputs`; the failing event's position in the chunk with the
/// error.
fn read_chunk(
    walk: &mut Walk,
    chunk: &[Bound<'_, PyAny>],
    inputs: &mut Vec<Input<'static>>,
) -> Result<(), (usize, PyErr)> {
    for (j, item) in chunk.iter().enumerate() {
        inputs.push(walk.input(item, None).map_err(|e| (j, e))?);
    }
    Ok(())
}

/// [`encode_payload`] for a platform that writes its body around a stream of events.
#[allow(clippy::too_many_arguments)]
fn encode_streamed<'py>(
    py: Python<'py>,
    spec: &'static PlatformSpec,
    stream: crate::platform::StreamBody,
    events: &Bound<'_, PyAny>,
    target: &Target,
    request: &Request,
    strict: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let items: Vec<Bound<'_, PyAny>> = if events.is_instance_of::<PyDict>() {
        vec![events.clone()]
    } else if events.is_instance_of::<PyList>() || events.is_instance_of::<PyTuple>() {
        events.try_iter()?.collect::<PyResult<_>>()?
    } else {
        return Err(PyTypeError::new_err(
            "events must be a list of event dicts (or one event dict)",
        ));
    };
    let count_error = if items.is_empty() {
        Some(ValidationError::new(
            "events",
            "at least one event is required",
        ))
    } else if items.len() > crate::event::MAX_EVENTS {
        Some(ValidationError::new(
            "events",
            format!(
                "{} events: a request carries at most {} (the senders split larger sends)",
                items.len(),
                crate::event::MAX_EVENTS
            ),
        ))
    } else {
        None
    };
    if let Some(e) = count_error {
        return Err(validation_error(py, &e));
    }
    let opts = options(strict);
    let release = items.len() >= RELEASE_GIL_FROM_EVENTS;
    let mut buf = BODY_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    buf.clear();
    // The first failure, reading (a Python error) or building (a ValidationError).
    let mut failure: Option<PyErr> = None;
    let written = {
        let mut w = crate::out::JsonWriter::new(&mut buf);
        let done = stream(&mut w, target, request, &mut |list| {
            for (c, chunk) in items.chunks(STREAM_CHUNK).enumerate() {
                let base = c * STREAM_CHUNK;
                // Borrowing first (no reference per string, the GIL kept until the chunk is
                // written); a chunk with a value that needs Python code is read again keeping
                // references, and written with the GIL released.
                let mut walk = Walk::borrowing();
                let mut inputs = Vec::with_capacity(chunk.len());
                let mut read = read_chunk(&mut walk, chunk, &mut inputs);
                if read.is_err() && walk.stopped {
                    inputs.clear();
                    walk = Walk::keeping(chunk.len());
                    read = read_chunk(&mut walk, chunk, &mut inputs);
                }
                if let Err((j, e)) = read {
                    failure = Some(within_event(py, e, base + j));
                    return false;
                }
                let mut write_chunk = || -> Result<(), ValidationError> {
                    for (j, input) in inputs.iter().enumerate() {
                        let at = |e: ValidationError| e.within(&format!("events[{}]", base + j));
                        let event = crate::event::Event::parse(input, &opts).map_err(at)?;
                        (spec.check_event)(&event, target, request).map_err(at)?;
                        list.push(|w| (spec.write_event)(w, &event));
                    }
                    Ok(())
                };
                let built = if release && !walk.borrowing {
                    py.detach(write_chunk)
                } else {
                    write_chunk()
                };
                if let Err(e) = built {
                    failure = Some(validation_error(py, &e));
                    return false;
                }
                // The chunk's strings are released here, with the GIL held.
                drop(inputs);
                drop(walk);
                if release {
                    // Nothing borrowed is left: other threads may run between chunks.
                    py.detach(|| ());
                }
            }
            true
        });
        if done {
            w.finish();
        }
        done
    };
    let result = if written {
        Ok(PyBytes::new(py, &buf))
    } else {
        Err(failure.unwrap_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the body could not be written")
        }))
    };
    BODY_BUFFER.with(|b| *b.borrow_mut() = buf);
    result
}

/// The platform's name for a neutral event name (`PageView` → TikTok's `Pageview`, GA4's
/// `page_view`, Pinterest's `page_visit`).
#[pyfunction]
fn event_name(py: Python<'_>, platform: &str, name: &str) -> PyResult<String> {
    let spec = platform_arg(platform)?;
    (spec.event_name)(name)
        .map(|n| n.into_owned())
        .map_err(|e| validation_error(py, &e))
}

/// One line per HTTP attempt through Python's `logging` (logger `convapi`): no token, no PII.
fn log_request(entry: &RequestLog) {
    Python::attach(|py| {
        let log = || -> PyResult<()> {
            let logger = py
                .import("logging")?
                .call_method1("getLogger", ("convapi",))?;
            let level = match entry.outcome {
                Outcome::Ok => 20,
                Outcome::Retry | Outcome::Error => 30,
            };
            logger.call_method1(
                "log",
                (
                    level,
                    "%s pixel=%s events=%d status=%s attempt=%d duration_ms=%.1f trace_id=%s outcome=%s code=%s",
                    entry.platform.as_str(),
                    entry.pixel.as_str(),
                    entry.events,
                    entry.status.map(|s| s.to_string()).unwrap_or_else(|| entry.error_kind.unwrap_or("none").to_string()),
                    entry.attempt,
                    entry.duration.as_secs_f64() * 1000.0,
                    entry.trace_id.as_deref().unwrap_or("-"),
                    entry.outcome.as_str(),
                    match (entry.code, entry.subcode) {
                        (Some(c), Some(s)) => format!("{c}/{s}"),
                        (Some(c), None) => c.to_string(),
                        _ => "-".to_string(),
                    },
                ),
            )?;
            Ok(())
        };
        // Logging must never break a send.
        if let Err(e) = log() {
            e.print(py);
        }
    });
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() || name.starts_with("backoff"))
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{name} must be a positive number of seconds"
            ))
        })
}

#[allow(clippy::too_many_arguments)]
fn config(
    base_url: Option<String>,
    timeout: f64,
    connect_timeout: f64,
    max_retries: u32,
    backoff_base: f64,
    backoff_max: f64,
    max_retry_after: f64,
) -> PyResult<SenderConfig> {
    Ok(SenderConfig {
        base_url,
        timeout: seconds("timeout", timeout)?,
        connect_timeout: seconds("connect_timeout", connect_timeout)?,
        max_retries,
        backoff_base: seconds("backoff_base", backoff_base)?,
        backoff_max: seconds("backoff_max", backoff_max)?,
        max_retry_after: seconds("max_retry_after", max_retry_after)?,
        on_request: Some(Arc::new(log_request)),
        ..SenderConfig::default()
    })
}

/// The outcome of a successful send.
#[pyclass(module = "convapi", frozen, get_all)]
struct SendResult {
    platform: &'static str,
    events_received: u64,
    code: Option<i64>,
    messages: Vec<String>,
    trace_id: Option<String>,
    trace_ids: Vec<String>,
    http_status: u16,
    attempts: u32,
    requests: u32,
    duration_ms: f64,
    response: Py<PyAny>,
}

/// Python's repr of a string (`'abc'`), for `__repr__` methods.
fn py_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[pymethods]
impl SendResult {
    fn __repr__(&self) -> String {
        // Python syntax (None / 'text'), not Rust's Debug (Some("text")).
        format!(
            "SendResult(platform={}, events_received={}, code={}, trace_id={}, http_status={}, attempts={}, requests={}, duration_ms={:.1})",
            py_repr(self.platform),
            self.events_received,
            self.code.map_or_else(|| "None".to_string(), |c| c.to_string()),
            self.trace_id.as_deref().map_or_else(|| "None".to_string(), py_repr),
            self.http_status,
            self.attempts,
            self.requests,
            self.duration_ms
        )
    }
}

fn send_result(py: Python<'_>, r: sender::SendResult) -> PyResult<SendResult> {
    Ok(SendResult {
        platform: r.platform.as_str(),
        events_received: r.events_received,
        code: r.code,
        messages: r.messages,
        trace_id: r.trace_id,
        trace_ids: r.trace_ids,
        http_status: r.http_status,
        attempts: r.attempts,
        requests: r.requests,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
        response: to_py(py, &r.response)?,
    })
}

/// Converts the events, sends them with the GIL released, and maps the outcome to Python.
fn send_released<F>(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    strict: bool,
    send: F,
) -> PyResult<SendResult>
where
    F: for<'e> FnOnce(&[Input<'e>], &BuildOptions) -> Result<sender::SendResult, SendError> + Send,
{
    let events = events_arg(events)?;
    let inputs = events.inputs();
    let opts = options(strict);
    match py.detach(|| send(inputs, &opts)) {
        Ok(r) => send_result(py, r),
        Err(e) => Err(send_error(py, &e)),
    }
}

/// Sends events to one destination of one platform. Python subclasses give each platform its
/// own constructor and `send` signature (`convapi/_platforms.py`); the secret never leaves this
/// object, and for a platform whose credentials travel in the URL (GA4) neither does the id.
#[pyclass(module = "convapi", subclass, frozen)]
struct Sender {
    inner: sender::Sender,
}

#[pymethods]
impl Sender {
    #[new]
    #[pyo3(signature = (platform, id, access_token, *, api_version=None, base_url=None, timeout=10.0, max_retries=3, connect_timeout=3.0, backoff_base=0.5, backoff_max=30.0, max_retry_after=60.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        platform: &str,
        id: &str,
        access_token: &str,
        api_version: Option<&str>,
        base_url: Option<String>,
        timeout: f64,
        max_retries: u32,
        connect_timeout: f64,
        backoff_base: f64,
        backoff_max: f64,
        max_retry_after: f64,
    ) -> PyResult<Self> {
        let spec = platform_arg(platform)?;
        let cfg = config(
            base_url,
            timeout,
            connect_timeout,
            max_retries,
            backoff_base,
            backoff_max,
            max_retry_after,
        )?;
        sender::Sender::new(
            spec.platform,
            id,
            AccessToken::new(access_token),
            api_version,
            cfg,
        )
        .map(|inner| Sender { inner })
        .map_err(|e| validation_error(py, &e))
    }

    /// Sends the events (as many requests as the platform needs), retrying transient failures,
    /// with the GIL released for the whole network call.
    #[pyo3(signature = (events, *, test_event_code=None, test=false, strict=false))]
    fn send(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        test_event_code: Option<&str>,
        test: bool,
        strict: bool,
    ) -> PyResult<SendResult> {
        let spec = self.inner.platform().spec();
        let request = request_arg(spec, test_event_code, test)?;
        send_released(py, events, strict, |events, opts| {
            self.inner.send_inputs(events, &request, opts)
        })
    }

    #[getter]
    fn platform(&self) -> &'static str {
        self.inner.platform().as_str()
    }

    /// The destination id (Meta pixel, TikTok pixel code, Pinterest ad account, GA4
    /// measurement id).
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    #[getter]
    fn api_version(&self) -> Option<&str> {
        self.inner.api_version()
    }

    /// The endpoint URL as it may be shown: no token, and GA4's query values masked.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let spec = this.inner.platform().spec();
        let id = if matches!(spec.auth, crate::platform::Auth::Query(_)) {
            "***"
        } else {
            this.inner.id()
        };
        Ok(format!(
            "{}({}={}, url={}, {}='***')",
            slf.get_type().name()?,
            spec.id_name,
            py_repr(id),
            py_repr(this.inner.url()),
            spec.secret_name
        ))
    }
}

#[pymodule]
fn _convapi(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(hash_value, m)?)?;
    m.add_function(wrap_pyfunction!(tiktok_event_name, m)?)?;
    m.add_function(wrap_pyfunction!(event_name, m)?)?;
    m.add_function(wrap_pyfunction!(build_payload, m)?)?;
    m.add_function(wrap_pyfunction!(encode_payload, m)?)?;
    m.add_class::<Sender>()?;
    m.add_class::<SendResult>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_META_API_VERSION", sender::DEFAULT_META_API_VERSION)?;
    // The neutral names, then the Meta keys that differ: what `normalize` accepts as `field`.
    let mut fields: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    fields.extend(
        Field::ALL
            .iter()
            .filter(|f| f.meta_key() != f.name())
            .map(|f| f.meta_key()),
    );
    m.add("FIELDS", PyTuple::new(m.py(), fields)?)?;
    // The platform table, as the Python side and the addon read it.
    let py = m.py();
    m.add(
        "PLATFORMS",
        PyTuple::new(py, ALL.iter().map(|p| p.as_str()))?,
    )?;
    let info = PyDict::new(py);
    for platform in ALL {
        let spec = platform.spec();
        let row = PyDict::new(py);
        row.set_item("label", spec.label)?;
        row.set_item("id_name", spec.id_name)?;
        row.set_item("secret_name", spec.secret_name)?;
        row.set_item("default_base_url", spec.default_base_url)?;
        row.set_item("max_events", spec.max_events)?;
        row.set_item("options", PyTuple::new(py, spec.options)?)?;
        row.set_item(
            "secret_in_url",
            matches!(spec.auth, crate::platform::Auth::Query(_)),
        )?;
        info.set_item(spec.name, row)?;
    }
    m.add("PLATFORM_INFO", info)?;
    Ok(())
}

/// The extension's own allocations (input tree, events, payload tree: about 80 small blocks per
/// event) go to mimalloc; Python objects stay on Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
