//! `oxlearn predict` in chunks: the input is read, predicted and written a
//! chunk of rows at a time, so that memory does not grow with the number
//! of rows (neither the file, nor its parsed values, nor the predictions
//! are ever held whole).
//!
//! Results do not depend on the chunk size: every model predicts a row
//! from that row alone, and what the whole input decides is decided
//! before the first chunk is predicted:
//! - a CSV header is the first non-blank line, read once;
//! - the kind of each column of a pipeline's CSV table (numbers, or text
//!   kept as written, as pandas reads it) is decided over the whole file
//!   by a first pass that only checks the lines, so a pipeline's CSV is
//!   read twice;
//! - the dtype of a `.npy` output: the input's (`.npy`: from its header;
//!   CSV: float64), and string labels as wide as the model's longest
//!   class (Python's `predict` returns its `classes_` dtype);
//! - the row count in a `.npy` output's header: the input's when known
//!   (`.npy`, and a pipeline's CSV after its first pass), else written at
//!   the end over a header of the same length;
//! - a pipeline's warnings are gathered over all chunks and shown once at
//!   the end (an encoder's unknown categories: the columns of all chunks).
//!
//! Errors name lines and rows in the whole file. An input with several
//! faults may be refused for another of them than in Python, which sees
//! the whole batch at once: the binary stops at the first chunk that
//! fails.
//!
//! The output is written to a temporary file beside it and renamed at the
//! end: it appears whole, or (on an error) not at all.

use crate::frame::{self, blank, CsvHead, Frame};
use crate::model::Prediction;
use crate::npy::{
    check_data_len, decode_numbers, decode_strings, labels_descr, labels_width_for, npy_header,
    npy_header_end, npy_header_padded, npy_info, npy_shape, values_descr, write_csv,
    write_labels_body, write_labels_csv, write_values_body, ArrayFileError, CsvNumbers, Element,
    Matrix, NpyInfo, MAX_NPY_HEADER,
};
use crate::pipeline::{Served, Warnings};
use crate::text::{escape, escape_keep_lines};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A chunk holds about this many bytes of input (CSV text, or `.npy`
/// data)...
const CHUNK_BYTES: usize = 4 << 20;

/// ... and at most this many rows: a pipeline's steps widen each row (an
/// encoder's columns), so memory follows the rows more than the bytes.
const CHUNK_ROWS: usize = 1 << 16;

/// The environment variable that sets the rows per chunk (tests force
/// tiny chunks with it); the hidden `--chunk-rows` option wins over it.
pub const CHUNK_ROWS_ENV: &str = "OXLEARN_CHUNK_ROWS";

/// The rows per chunk: `flag`, else [`CHUNK_ROWS_ENV`], else `None` (chunks
/// of about [`CHUNK_BYTES`], at most [`CHUNK_ROWS`] rows).
pub fn chunk_rows(flag: Option<usize>) -> Result<Option<usize>, String> {
    if let Some(n) = flag {
        return positive(n);
    }
    match std::env::var(CHUNK_ROWS_ENV) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) => positive(n),
            Err(_) => Err(format!(
                "{CHUNK_ROWS_ENV}={}: expected a positive number of rows",
                escape(&v)
            )),
        },
        Err(_) => Ok(None),
    }
}

fn positive(n: usize) -> Result<Option<usize>, String> {
    if n == 0 {
        Err("the rows per chunk must be at least 1".into())
    } else {
        Ok(Some(n))
    }
}

/// The input's format.
#[derive(Clone, Copy, PartialEq)]
pub enum Format {
    /// `.npy`.
    Npy,
    /// `.csv`.
    Csv,
}

impl Format {
    /// The format a file's extension names, if any.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "npy" => Some(Format::Npy),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

fn shown(p: &Path) -> String {
    escape(&p.display().to_string())
}

/// Predicts every row of `input` with `served` into `output`, a chunk at
/// a time (`rows` rows each, or about [`CHUNK_BYTES`]).
pub fn predict(
    served: &Served,
    input: &Path,
    output: &Path,
    rows: Option<usize>,
) -> Result<(), String> {
    let in_format =
        Format::of(input).ok_or_else(|| format!("{}: input must be .npy or .csv", shown(input)))?;
    let out_format = Format::of(output)
        .ok_or_else(|| format!("{}: output must be .npy or .csv", shown(output)))?;
    let open = |p: &Path| File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let size = open(input)?.metadata().map_or(0, |m| m.len());
    let mut sink = Sink::create(output, out_format, served.label_width())?;
    let mut progress = Progress::new(size);
    match (served, in_format) {
        (Served::Model(model), Format::Npy) => {
            let mut reader = NpyReader::open(open(input)?, input, false)?;
            sink.rows_known(reader.info.rows);
            let mut first = true;
            while let Some(chunk) = reader.next_chunk(rows)? {
                let NpyChunk::Numbers(x) = chunk else {
                    return Err(reader.bad("a string array: this model takes numbers".into()));
                };
                if first {
                    first = false;
                    if let Some(w) = model
                        .check_feature_names(None)
                        .map_err(|e| escape_keep_lines(&e))?
                    {
                        progress.warn(&w);
                    }
                }
                progress.add(reader.last_bytes);
                let y = model.predict_rows(&x, sink.rows, Some(reader.info.rows));
                sink.write(&y.map_err(|e| escape_keep_lines(&e))?)?;
            }
        }
        (Served::Model(model), Format::Csv) => {
            let mut lines = Lines::open(open(input)?, input, 0, 1);
            let mut csv = CsvNumbers::default();
            let mut block = String::new();
            let mut checked = false;
            loop {
                let (first_line, mut eof) = lines.block(&mut block, rows, &mut progress)?;
                let mut data = Vec::new();
                for (i, line) in block.split('\n').enumerate() {
                    csv.line(line, first_line + i, &mut data)
                        .map_err(|e| format!("{}: {}", shown(input), escape_keep_lines(&e.0)))?;
                }
                let cols = csv.cols();
                let x = Matrix::F64 {
                    rows: data.len().checked_div(cols).unwrap_or(0),
                    cols,
                    data,
                    one_dim: false,
                };
                // Only an empty input is predicted as 0 rows (refused as
                // Python refuses it).
                if x.rows() > 0 || (eof && sink.rows == 0) {
                    if !checked {
                        checked = true;
                        if let Some(w) = model
                            .check_feature_names(csv.names())
                            .map_err(|e| escape_keep_lines(&e))?
                        {
                            progress.warn(&w);
                        }
                    }
                    let y = match model.predict_rows(&x, sink.rows, None) {
                        Ok(y) => y,
                        // An error naming the number of rows: counted to the end.
                        Err(e) if model.rows_error(x.rows()).as_ref() == Some(&e) => {
                            let mut rows_left = 0;
                            while !eof {
                                let (first_line, end) =
                                    lines.block(&mut block, rows, &mut progress)?;
                                eof = end;
                                let mut data = Vec::new();
                                for (i, line) in block.split('\n').enumerate() {
                                    csv.line(line, first_line + i, &mut data).map_err(|e| {
                                        format!("{}: {}", shown(input), escape_keep_lines(&e.0))
                                    })?;
                                }
                                rows_left += data.len() / cols.max(1);
                            }
                            let total = sink.rows + x.rows() + rows_left;
                            return Err(escape_keep_lines(&model.rows_error(total).unwrap_or(e)));
                        }
                        Err(e) => return Err(escape_keep_lines(&e)),
                    };
                    sink.write(&y)?;
                }
                if eof {
                    break;
                }
            }
        }
        (Served::Pipeline(pipe), Format::Npy) => {
            let mut reader = NpyReader::open(open(input)?, input, true)?;
            sink.rows_known(reader.info.rows);
            if matches!(
                reader.element,
                Element::Number {
                    kind: 'f',
                    item: 4,
                    ..
                }
            ) {
                progress.warn(
                    "float32 input: a pipeline's transformers compute in float64 in the binary \
                     and in float32 in Python (scikit-learn keeps float32), so results may \
                     differ in the last bits; give float64 input for identical results",
                );
            }
            let mut warnings = Warnings::default();
            let mut done = 0;
            while let Some(chunk) = reader.next_chunk(rows)? {
                let frame = match chunk {
                    NpyChunk::Numbers(m) => Frame::from_matrix(&m),
                    NpyChunk::Texts(rows, cols, values) => Frame::from_texts(rows, cols, &values),
                };
                let frame = Frame {
                    column_major: reader.info.fortran,
                    ..frame
                };
                let n = frame.rows;
                progress.add(reader.last_bytes);
                let y = pipe
                    .predict_rows(frame, done, reader.info.rows, &mut warnings)
                    .map_err(|e| escape_keep_lines(&e))?;
                sink.write(&y)?;
                done += n;
            }
            progress.finish();
            for w in warnings.messages() {
                eprintln!("oxlearn: warning: {}", escape(&w));
            }
        }
        (Served::Pipeline(pipe), Format::Csv) => {
            let bad = |e: ArrayFileError| format!("{}: {}", shown(input), escape_keep_lines(&e.0));
            // The first non-blank line: the header, or the first row.
            let mut lines = Lines::open(open(input)?, input, 0, 1);
            progress.set_length(size.saturating_mul(2));
            let Some((head, rows_at, rows_line)) = lines.head(&mut progress, bad)? else {
                // Nothing but blank lines: a table of no rows and no columns.
                let empty = Frame::from_texts(0, 0, &[]);
                let mut warnings = Warnings::default();
                let y = pipe
                    .predict_rows(empty, 0, 0, &mut warnings)
                    .map_err(|e| escape_keep_lines(&e))?;
                sink.write(&y)?;
                return sink.finish();
            };
            // First pass: every line checked, the kind of every column.
            let mut is_text = vec![false; head.width];
            let mut total = 0;
            let mut block = String::new();
            loop {
                let (first_line, eof) = lines.block(&mut block, rows, &mut progress)?;
                total += frame::scan_rows(&block, &head, first_line, total == 0, &mut is_text)
                    .map_err(bad)?;
                if eof {
                    break;
                }
            }
            sink.rows_known(total);
            // Second pass: the rows, predicted chunk after chunk.
            let mut lines = Lines::open(open(input)?, input, rows_at, rows_line);
            let mut warnings = Warnings::default();
            let mut done = 0;
            loop {
                let (first_line, eof) = lines.block(&mut block, rows, &mut progress)?;
                let frame = frame::parse_rows_as(&block, &head, first_line, done == 0, &is_text)
                    .map_err(bad)?;
                let n = frame.rows;
                // Only an empty input is predicted as 0 rows (refused as
                // Python refuses it).
                if n > 0 || (eof && done == 0) {
                    let y = pipe
                        .predict_rows(frame, done, total, &mut warnings)
                        .map_err(|e| escape_keep_lines(&e))?;
                    sink.write(&y)?;
                    done += n;
                }
                if eof {
                    break;
                }
            }
            progress.finish();
            for w in warnings.messages() {
                eprintln!("oxlearn: warning: {}", escape(&w));
            }
        }
    }
    progress.finish();
    sink.finish()
}

/// The progress bar: on stderr when it is a terminal, in bytes of input
/// read; nothing at all otherwise (pipes, files and tests see no change).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(bytes: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar: Some(bar) }
    }

    fn set_length(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    fn add(&mut self, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes as u64);
        }
    }

    /// A warning on stderr, above the bar.
    fn warn(&self, w: &str) {
        let line = format!("oxlearn: warning: {}", escape(w));
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Whole lines of a text file, read a block at a time, checked to be
/// UTF-8 (an error names the byte offset in the whole file).
struct Lines<'a> {
    inner: BufReader<File>,
    path: &'a Path,
    /// Bytes read so far, from the start of the file.
    offset: usize,
    /// The number of the next line.
    line: usize,
    raw: Vec<u8>,
}

impl<'a> Lines<'a> {
    /// Lines from byte `offset` of `file`, that line being number `line`.
    fn open(file: File, path: &'a Path, offset: usize, line: usize) -> Lines<'a> {
        let mut inner = BufReader::with_capacity(1 << 20, file);
        let offset = match inner.seek(SeekFrom::Start(offset as u64)) {
            Ok(at) => at as usize,
            Err(_) => 0,
        };
        Lines {
            inner,
            path,
            offset,
            line,
            raw: Vec::new(),
        }
    }

    /// The next line (with its `\n`), its number and its offset; `None` at
    /// the end.
    fn next_line(&mut self) -> Result<Option<(&str, usize, usize)>, String> {
        self.raw.clear();
        let n = self
            .inner
            .read_until(b'\n', &mut self.raw)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if n == 0 {
            return Ok(None);
        }
        let at = self.offset;
        let text = std::str::from_utf8(&self.raw).map_err(|e| {
            // std's message, with the offset in the whole file.
            let index = at + e.valid_up_to();
            let what = match e.error_len() {
                Some(len) => format!("invalid utf-8 sequence of {len} bytes from index {index}"),
                None => format!("incomplete utf-8 byte sequence from index {index}"),
            };
            format!("{}: not UTF-8 text: {what}", shown(self.path))
        })?;
        self.offset += n;
        self.line += 1;
        Ok(Some((text, self.line - 1, at)))
    }

    /// The first non-blank line as a CSV head, where the rows start (byte
    /// offset and line number: after a header, else at that line); `None`
    /// when every line is blank.
    fn head(
        &mut self,
        progress: &mut Progress,
        bad: impl Fn(ArrayFileError) -> String,
    ) -> Result<Option<(CsvHead, usize, usize)>, String> {
        while let Some((text, n, at)) = self.next_line()? {
            let len = text.len();
            let line = text.strip_suffix('\n').unwrap_or(text);
            let line = line.strip_suffix('\r').unwrap_or(line);
            progress.add(len);
            if blank(line) {
                continue;
            }
            let head = frame::csv_head(line, n).map_err(bad)?;
            return Ok(Some(if head.names.is_some() {
                (head, at + len, n + 1)
            } else {
                (head, at, n)
            }));
        }
        Ok(None)
    }

    /// Replaces `block` with whole lines, until `rows` non-blank ones (or
    /// about [`CHUNK_BYTES`]) or the end: returns the number of the first
    /// line, and whether the file has ended.
    fn block(
        &mut self,
        block: &mut String,
        rows: Option<usize>,
        progress: &mut Progress,
    ) -> Result<(usize, bool), String> {
        block.clear();
        let first = self.line;
        let mut got = 0;
        let eof = loop {
            let Some((text, _, _)) = self.next_line()? else {
                break true;
            };
            block.push_str(text);
            progress.add(text.len());
            if !blank(text) {
                got += 1;
            }
            let full = match rows {
                Some(rows) => got >= rows,
                None => block.len() >= CHUNK_BYTES || got >= CHUNK_ROWS,
            };
            if full {
                break false;
            }
        };
        // The parsers take lines separated by '\n': the last one needs none.
        if block.ends_with('\n') {
            block.pop();
        }
        Ok((first, eof))
    }
}

/// A chunk of `.npy` rows.
enum NpyChunk {
    Numbers(Matrix),
    /// Rows, columns and the strings, row after row.
    Texts(usize, usize, Vec<String>),
}

/// A `.npy` file read a chunk of rows at a time, in C or Fortran order.
struct NpyReader<'a> {
    file: File,
    path: &'a Path,
    info: NpyInfo,
    element: Element,
    item: usize,
    /// The next row to read.
    next: usize,
    /// Whether an empty array was given out (as one chunk of 0 rows).
    empty_done: bool,
    /// Bytes read by the last chunk.
    last_bytes: usize,
    buf: Vec<u8>,
}

impl<'a> NpyReader<'a> {
    /// Reads and checks the header (and the data's size); `texts`: numpy
    /// strings are accepted (pipelines).
    fn open(mut file: File, path: &'a Path, texts: bool) -> Result<NpyReader<'a>, String> {
        let bad = |e: ArrayFileError| format!("{}: {}", shown(path), escape_keep_lines(&e.0));
        let io = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let len = file.metadata().map_err(io)?.len() as usize;
        let mut prefix = Vec::new();
        (&mut file).take(12).read_to_end(&mut prefix).map_err(io)?;
        if let Some(end) = npy_header_end(&prefix) {
            if end > MAX_NPY_HEADER && end <= len {
                return Err(bad(ArrayFileError(format!(
                    "the .npy header is {end} bytes, more than the {MAX_NPY_HEADER} accepted"
                ))));
            }
            let more = end.min(len).saturating_sub(prefix.len());
            (&mut file)
                .take(more as u64)
                .read_to_end(&mut prefix)
                .map_err(io)?;
        }
        let info = npy_info(&prefix).map_err(bad)?;
        let element = match Element::of(&info.descr).map_err(bad)? {
            Element::Text { .. } if !texts => {
                // The numbers reader's message (dtype not supported).
                return Err(bad(crate::npy::refuse_dtype(&info.descr)));
            }
            e => e,
        };
        let item = element.size().map_err(bad)?;
        check_data_len(&info, item, len.saturating_sub(info.data_at)).map_err(bad)?;
        Ok(NpyReader {
            file,
            path,
            info,
            element,
            item,
            next: 0,
            empty_done: false,
            last_bytes: 0,
            buf: Vec::new(),
        })
    }

    fn bad(&self, e: String) -> String {
        format!("{}: {}", shown(self.path), escape_keep_lines(&e))
    }

    /// The next chunk of rows (`rows`, or about [`CHUNK_BYTES`]); an empty
    /// array is one chunk of 0 rows; `None` after the last.
    fn next_chunk(&mut self, rows: Option<usize>) -> Result<Option<NpyChunk>, String> {
        let (total, cols, item) = (self.info.rows, self.info.cols, self.item);
        if self.next >= total && (total > 0 || self.empty_done) {
            return Ok(None);
        }
        self.empty_done = true;
        let row_bytes = cols.saturating_mul(item).max(1);
        let want = rows.unwrap_or((CHUNK_BYTES / row_bytes).clamp(1, CHUNK_ROWS));
        let n = want.min(total - self.next);
        let io = |e: std::io::Error| format!("cannot read {}: {e}", self.path.display());
        self.buf.clear();
        self.buf.resize(n * cols * item, 0);
        if self.info.fortran {
            // Column after column: this chunk's part of each column.
            let mut column = vec![0u8; n * item];
            for j in 0..cols {
                let at = self.info.data_at + (j * total + self.next) * item;
                self.file.seek(SeekFrom::Start(at as u64)).map_err(io)?;
                self.file.read_exact(&mut column).map_err(io)?;
                for i in 0..n {
                    let to = (i * cols + j) * item;
                    self.buf[to..to + item].copy_from_slice(&column[i * item..(i + 1) * item]);
                }
            }
        } else {
            let at = self.info.data_at + self.next * cols * item;
            self.file.seek(SeekFrom::Start(at as u64)).map_err(io)?;
            self.file.read_exact(&mut self.buf).map_err(io)?;
        }
        let first = self.next * cols;
        self.next += n;
        self.last_bytes = self.buf.len();
        Ok(Some(match self.element {
            Element::Number { big, kind, item } => NpyChunk::Numbers(decode_numbers(
                (big, kind, item),
                &self.buf,
                n,
                cols,
                self.info.one_dim,
            )),
            Element::Text { .. } => NpyChunk::Texts(
                n,
                cols,
                decode_strings(self.element, &self.buf, n * cols, first)
                    .map_err(|e| self.bad(e.0))?,
            ),
        }))
    }
}

/// The `.npy` output's layout, fixed by the first chunk.
struct NpyOut {
    descr: String,
    cols: usize,
    one_dim: bool,
    /// The header's length, as written first.
    header_len: usize,
}

/// The output file, written a chunk at a time into a temporary file beside
/// it, renamed at the end ([`Sink::finish`]); removed if never finished.
struct Sink {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    format: Format,
    npy: Option<NpyOut>,
    /// Rows written.
    rows: usize,
    /// The total, when known before the first chunk.
    known_rows: Option<usize>,
    /// Characters of the longest class label (string labels' width).
    label_width: Option<usize>,
}

impl Sink {
    fn create(path: &Path, format: Format, label_width: Option<usize>) -> Result<Sink, String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.oxlearn-tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", shown(path)))?;
        Ok(Sink {
            path: path.to_owned(),
            tmp,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            format,
            npy: None,
            rows: 0,
            known_rows: None,
            label_width,
        })
    }

    fn rows_known(&mut self, rows: usize) {
        self.known_rows = Some(rows);
    }

    fn io(&self, e: std::io::Error) -> String {
        format!("cannot write {}: {e}", shown(&self.path))
    }

    /// Appends a chunk's predictions.
    fn write(&mut self, y: &Prediction) -> Result<(), String> {
        let mut bytes = Vec::new();
        let (rows, descr, cols, one_dim) = match y {
            Prediction::Values(m) => {
                let one_dim = match m {
                    Matrix::F64 { one_dim, .. } | Matrix::F32 { one_dim, .. } => *one_dim,
                };
                (m.rows(), values_descr(m).to_owned(), m.cols(), one_dim)
            }
            Prediction::Labels(l) => {
                let width = labels_width_for(l, self.label_width)?;
                (l.len(), labels_descr(l, width), 1, true)
            }
        };
        match self.format {
            Format::Csv => {
                let text = match y {
                    Prediction::Values(m) => write_csv(m),
                    Prediction::Labels(l) => write_labels_csv(l),
                };
                bytes.extend_from_slice(text.as_bytes());
            }
            Format::Npy => {
                match &self.npy {
                    None => {
                        // Before the row count is known, a header as long
                        // as the longest count makes: overwritten at the end.
                        let header = match self.known_rows {
                            Some(n) => npy_header(&descr, &npy_shape(n, cols, one_dim)),
                            None => npy_header(&descr, &npy_shape(usize::MAX, cols, one_dim)),
                        };
                        self.npy = Some(NpyOut {
                            descr: descr.clone(),
                            cols,
                            one_dim,
                            header_len: header.len(),
                        });
                        bytes.extend_from_slice(&header);
                    }
                    Some(o) if o.descr != descr || o.cols != cols || o.one_dim != one_dim => {
                        return Err(format!(
                            "the predictions changed type between chunks ({} of {} columns, \
                             then {descr} of {cols})",
                            o.descr, o.cols
                        ));
                    }
                    Some(_) => {}
                }
                match y {
                    Prediction::Values(m) => write_values_body(m, &mut bytes),
                    Prediction::Labels(l) => {
                        write_labels_body(l, labels_width_for(l, self.label_width)?, &mut bytes);
                    }
                }
            }
        }
        self.rows += rows;
        let Some(file) = self.file.as_mut() else {
            return Err("the output is already closed".into());
        };
        let result = file.write_all(&bytes);
        result.map_err(|e| self.io(e))
    }

    /// Completes the file (the `.npy` row count) and moves it into place.
    fn finish(mut self) -> Result<(), String> {
        let Some(writer) = self.file.take() else {
            return Err("the output is already closed".into());
        };
        let mut file = writer
            .into_inner()
            .map_err(|e| format!("cannot write {}: {}", shown(&self.path), e.error()))?;
        if let Some(o) = &self.npy {
            if let Some(n) = self.known_rows.filter(|&n| n != self.rows) {
                return Err(format!(
                    "{} rows were predicted for an input of {n}",
                    self.rows
                ));
            }
            if self.known_rows.is_none() {
                let shape = npy_shape(self.rows, o.cols, o.one_dim);
                let header = npy_header_padded(&o.descr, &shape, o.header_len);
                if header.len() != o.header_len {
                    return Err("the .npy header outgrew its place".into());
                }
                file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
                file.write_all(&header).map_err(|e| self.io(e))?;
            }
        }
        file.flush().map_err(|e| self.io(e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| self.io(e))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Not finished (an error): no partial output is left behind.
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
