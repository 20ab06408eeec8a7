//! `EncoderSync`: frames of one size and format to vc6 streams.

use crate::enums::{CodecBackendType, EncoderGenericPreset, ImageMemoryType, PictureFormat};
use crate::errors::{param, to_py, Failure};
use crate::image::EncodedImage;
use crate::imagefile;
use crate::input::pixels_of;
use numpy::PyArrayMethods;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::PathBuf;
use std::sync::Mutex;
use vc6::{EncoderSettings, PixelFormat};

/// What an encoder encodes: size, format and settings (validated together).
#[derive(Clone)]
struct State {
    width: u32,
    height: u32,
    format: PixelFormat,
    settings: EncoderSettings,
}

impl State {
    fn encoder(&self) -> vc6::Result<vc6::Encoder> {
        vc6::Encoder::new(self.width, self.height, self.format, self.settings.clone())
    }
}

/// Encodes frames of one size and picture format (`EncoderSync(width, height, backend,
/// picture_format, memory_type=ImageMemoryType.CPU)`). Lossless unless a lossy preset is
/// set (`set_generic_preset(EncoderGenericPreset.BETTER)`, then `quality` or
/// `target_bpp`). Thread-safe; encodes release the GIL. The encoder runs on the CPU
/// whatever the backend (GPU encoding is not built), and takes frames in host memory only:
/// `ImageMemoryType.CUDA_DEVICE` raises `UnsupportedError`.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct EncoderSync {
    state: Mutex<State>,
    backend: CodecBackendType,
}

impl EncoderSync {
    fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the settings (checked against the size and format first).
    fn update(&self, change: impl FnOnce(&mut State) -> PyResult<()>) -> PyResult<()> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        change(&mut next)?;
        next.encoder().map_err(to_py)?;
        *guard = next;
        Ok(())
    }
}

/// Encodes a file: a raw frame of the state's size and format, or an image file at its own
/// size and format. Returns (stream, width, height, format).
fn encode_file(state: &State, path: &std::path::Path) -> Result<EncodedParts, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Io(path.to_path_buf(), e))?;
    let raw_len = state.format.frame_len(state.width, state.height).ok();
    if imagefile::is_image(path, &bytes, raw_len) {
        let img = imagefile::decode(&bytes, &path.display().to_string())?;
        let (w, h, format) = (img.width, img.height, img.format());
        let encoder = vc6::Encoder::new(w, h, format, state.settings.clone())?;
        let stream = encoder.encode(&img.into_bytes())?;
        return Ok((stream, w, h, format));
    }
    if raw_len != Some(bytes.len()) {
        return Err(Failure::Vc6(vc6::Error::Parameter(format!(
            "{}: {} bytes, but a raw {}x{} {} frame is {} bytes (and it is not a PNG, JPEG or \
             TIFF file)",
            path.display(),
            bytes.len(),
            state.width,
            state.height,
            state.format,
            raw_len.unwrap_or(0)
        ))));
    }
    let stream = state.encoder()?.encode(&bytes)?;
    Ok((stream, state.width, state.height, state.format))
}

type EncodedParts = (Vec<u8>, u32, u32, PixelFormat);

#[pymethods]
impl EncoderSync {
    /// An encoder for `width x height` frames in `picture_format`.
    #[new]
    #[pyo3(signature = (width, height, backend=CodecBackendType::CPU, picture_format=PictureFormat::RGB_8, memory_type=ImageMemoryType::CPU, *, threads=0))]
    fn new(
        width: u32,
        height: u32,
        backend: CodecBackendType,
        picture_format: PictureFormat,
        memory_type: ImageMemoryType,
        threads: usize,
    ) -> PyResult<EncoderSync> {
        memory_type.check_encoder()?;
        let state = State {
            width,
            height,
            format: picture_format.pixel(),
            settings: EncoderSettings {
                backend: backend.backend(),
                threads,
                ..EncoderSettings::default()
            },
        };
        state.encoder().map_err(to_py)?;
        Ok(EncoderSync {
            state: Mutex::new(state),
            backend,
        })
    }

    /// Frame width.
    #[getter]
    fn width(&self) -> u32 {
        self.state().width
    }

    /// Frame height.
    #[getter]
    fn height(&self) -> u32 {
        self.state().height
    }

    /// Frame format.
    #[getter]
    fn picture_format(&self) -> Option<PictureFormat> {
        PictureFormat::of(self.state().format)
    }

    /// The backend asked for (encoding runs on the CPU).
    #[getter]
    fn backend(&self) -> CodecBackendType {
        self.backend
    }

    /// Bytes of one input frame.
    #[getter]
    fn frame_size(&self) -> PyResult<usize> {
        let s = self.state();
        s.format.frame_len(s.width, s.height).map_err(to_py)
    }

    /// Changes the frame size and format, keeping the settings.
    #[pyo3(signature = (width, height, picture_format=None))]
    fn reconfigure(
        &self,
        width: u32,
        height: u32,
        picture_format: Option<PictureFormat>,
    ) -> PyResult<()> {
        self.update(|s| {
            s.width = width;
            s.height = height;
            if let Some(f) = picture_format {
                s.format = f.pixel();
            }
            Ok(())
        })
    }

    /// Starts from a preset's settings (LOSSLESS; LIGHT or BETTER: lossy at quality 80),
    /// keeping the threads, bit depth and `lossless_alpha`.
    fn set_generic_preset(&self, preset: EncoderGenericPreset) -> PyResult<()> {
        self.update(|s| {
            let old = &s.settings;
            s.settings = EncoderSettings {
                backend: old.backend,
                threads: old.threads,
                bit_depth: old.bit_depth,
                lossless_alpha: old.lossless_alpha,
                ..EncoderSettings::from_preset(preset.preset())
            };
            Ok(())
        })
    }

    /// The preset in force.
    #[getter]
    fn preset(&self) -> EncoderGenericPreset {
        EncoderGenericPreset::of(self.state().settings.preset)
    }

    /// Lossy quality, 0 to 100 (fractions allowed); `None` when lossless or coding to a
    /// target rate. Setting it needs a lossy preset and replaces `target_bpp`.
    #[getter]
    fn quality(&self) -> Option<f32> {
        self.state().settings.quality
    }

    #[setter]
    fn set_quality(&self, quality: f32) -> PyResult<()> {
        self.update(|s| {
            lossy_only(s, "quality")?;
            s.settings.quality = Some(quality);
            s.settings.target_bpp = None;
            Ok(())
        })
    }

    /// Lossy coding at this many bits per pixel (several passes); `None` unless set.
    /// Setting it needs a lossy preset and replaces `quality`.
    #[getter]
    fn target_bpp(&self) -> Option<f64> {
        self.state().settings.target_bpp
    }

    #[setter]
    fn set_target_bpp(&self, bpp: f64) -> PyResult<()> {
        self.update(|s| {
            lossy_only(s, "target_bpp")?;
            s.settings.target_bpp = Some(bpp);
            s.settings.quality = None;
            Ok(())
        })
    }

    /// Lossy streams of formats with alpha: code alpha exactly.
    #[getter]
    fn lossless_alpha(&self) -> bool {
        self.state().settings.lossless_alpha
    }

    #[setter]
    fn set_lossless_alpha(&self, on: bool) -> PyResult<()> {
        self.update(|s| {
            s.settings.lossless_alpha = on;
            Ok(())
        })
    }

    /// Significant bits of 16-bit samples (10, 12 ...; `None`: 16).
    #[getter]
    fn bit_depth(&self) -> Option<u8> {
        self.state().settings.bit_depth
    }

    #[setter]
    fn set_bit_depth(&self, depth: Option<u8>) -> PyResult<()> {
        self.update(|s| {
            s.settings.bit_depth = depth;
            Ok(())
        })
    }

    /// Worker threads of one encode (0: every core).
    #[getter]
    fn threads(&self) -> usize {
        self.state().settings.threads
    }

    #[setter]
    fn set_threads(&self, threads: usize) -> PyResult<()> {
        self.update(|s| {
            s.settings.threads = threads;
            Ok(())
        })
    }

    /// Encodes one frame: a NumPy array (`uint8`, or `uint16` for the 16-bit formats, of
    /// exactly the frame's samples) or any bytes-like object holding the packed frame.
    fn encode(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<EncodedImage> {
        let state = self.state();
        let pixels = pixels_of(frame, state.format)?;
        let bytes = pixels.as_slice();
        let stream = py
            .detach(|| state.encoder()?.encode(bytes))
            .map_err(to_py)?;
        Ok(EncodedImage::new(
            py,
            stream,
            state.width,
            state.height,
            state.format,
        ))
    }

    /// Encodes many frames, one per core at a time: a list with an `EncodedImage` or
    /// the exception (not raised) for each frame, in order.
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        frames: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let state = self.state();
        let inputs: Vec<PyResult<_>> = frames.iter().map(|f| pixels_of(f, state.format)).collect();
        let ok: Vec<&[u8]> = inputs
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|b| b.as_slice()))
            .collect();
        let results = py.detach(|| match state.encoder() {
            Ok(enc) => enc.encode_batch(&ok),
            Err(e) => ok.iter().map(|_| Err(clone_error(&e))).collect(),
        });
        let mut results = results.into_iter();
        let out = PyList::empty(py);
        for input in inputs {
            let item = match input {
                Err(e) => e.into_value(py).into_any(),
                Ok(_) => match results.next().expect("one result per good frame") {
                    Ok(stream) => Bound::new(
                        py,
                        EncodedImage::new(py, stream, state.width, state.height, state.format),
                    )?
                    .into_any()
                    .unbind(),
                    Err(e) => to_py(e).into_value(py).into_any(),
                },
            };
            out.append(item)?;
        }
        Ok(out)
    }

    /// Encodes a file: a raw frame of this encoder's size and format, or a PNG, JPEG or
    /// TIFF file (by its extension or its first bytes), encoded at its own size in its own
    /// format (grey, RGB or RGBA, 8 or 16-bit) with this encoder's settings.
    fn read(&self, py: Python<'_>, path: PathBuf) -> PyResult<EncodedImage> {
        let state = self.state();
        let (stream, w, h, format) = py
            .detach(|| encode_file(&state, &path))
            .map_err(Failure::into_py)?;
        Ok(EncodedImage::new(py, stream, w, h, format))
    }

    /// Encodes `frame` (as `encode`) and writes the stream to `path`; returns its length.
    fn write(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, path: PathBuf) -> PyResult<usize> {
        let encoded = self.encode(py, frame)?;
        let array = encoded.array(py)?;
        let view = array.bind(py).readonly();
        let bytes = view.as_slice()?;
        py.detach(|| std::fs::write(&path, bytes))
            .map_err(|e| crate::errors::io_at(&path, e))?;
        Ok(bytes.len())
    }

    fn __repr__(&self) -> String {
        let s = self.state();
        format!(
            "<EncoderSync {}x{} {} preset={:?} quality={:?} target_bpp={:?}>",
            s.width,
            s.height,
            PictureFormat::of(s.format)
                .map(|f| format!("{f:?}"))
                .unwrap_or_default(),
            EncoderGenericPreset::of(s.settings.preset),
            s.settings.quality,
            s.settings.target_bpp
        )
    }
}

fn lossy_only(s: &State, what: &str) -> PyResult<()> {
    if s.settings.preset == vc6::Preset::Lossless {
        return Err(param(format!(
            "{what} needs a lossy preset: call set_generic_preset(EncoderGenericPreset.BETTER) \
             or EncoderGenericPreset.LIGHT first"
        )));
    }
    Ok(())
}

/// A copy of an error for each of several items (`vc6::Error` is not `Clone`: I/O errors
/// become their text).
pub fn clone_error(e: &vc6::Error) -> vc6::Error {
    use vc6::Error as E;
    match e {
        E::NotVc6(m) => E::NotVc6(m.clone()),
        E::Truncated {
            what,
            needed,
            available,
        } => E::Truncated {
            what: what.clone(),
            needed: *needed,
            available: *available,
        },
        E::Format(m) => E::Format(m.clone()),
        E::Unsupported(m) => E::Unsupported(m.clone()),
        E::Parameter(m) => E::Parameter(m.clone()),
        E::LimitsExceeded(m) => E::LimitsExceeded(m.clone()),
        E::Device(m) => E::Device(m.clone()),
        other => E::Io(std::io::Error::other(other.to_string())),
    }
}
