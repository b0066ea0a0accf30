//! Reading a topology's text: a regular file, or `-` for stdin, of at most [`MAX_FILE_BYTES`],
//! in UTF-8.
//!
//! Why so strict: `/dev/zero` used to grow memory to 2 GB before failing and a FIFO blocked
//! forever. The file type is checked before the file is opened (opening a FIFO blocks until a
//! writer comes), the file is opened non-blocking and checked again on the open handle (the path
//! may have been swapped in between), and at most one byte more than the limit is ever read, so
//! a file that grows while it is read is refused too.

use super::error::TopologyError;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest topology file read: far above any real topology (1000 containers take ~100 KB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The file name that means "read the topology from stdin".
pub const STDIN: &str = "-";

/// Whether `path` means stdin.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// How the file is named in messages: its path, or `<stdin>`.
pub fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// The text at `path` (or stdin for `-`), checked as described in the module comment.
pub fn read(path: &Path) -> Result<String, TopologyError> {
    let file = display_name(path);
    let io = |source| TopologyError::Io {
        file: file.clone(),
        source,
    };
    let bytes = if is_stdin(path) {
        read_capped(std::io::stdin().lock(), &file)?
    } else {
        regular(&std::fs::metadata(path).map_err(io)?, &file)?;
        let handle = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        regular(&handle.metadata().map_err(io)?, &file)?;
        read_capped(handle, &file)?
    };
    utf8(bytes, &file)
}

/// Refuses anything but a regular file within the size limit, naming what it is instead.
fn regular(meta: &Metadata, file: &str) -> Result<(), TopologyError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(file));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(TopologyError::Input {
        file: file.to_string(),
        message: format!("is {what}; a topology must be a regular file (or - for stdin)"),
    })
}

fn too_large(file: &str) -> TopologyError {
    TopologyError::Input {
        file: file.to_string(),
        message: format!(
            "is larger than {} MiB, the most a topology may be",
            MAX_FILE_BYTES >> 20
        ),
    }
}

/// At most [`MAX_FILE_BYTES`] of `reader`; one byte more is an error.
fn read_capped(reader: impl Read, file: &str) -> Result<Vec<u8>, TopologyError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TopologyError::Io {
            file: file.to_string(),
            source,
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(file));
    }
    Ok(bytes)
}

/// The text, or a parse error at the line and column of the first byte that is not UTF-8.
pub(super) fn utf8(bytes: Vec<u8>, file: &str) -> Result<String, TopologyError> {
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let offset = err.utf8_error().valid_up_to();
        // Everything before `offset` is valid UTF-8.
        let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        TopologyError::Parse {
            file: file.to_string(),
            line: Some(before.matches('\n').count() + 1),
            column: Some(before[line_start..].chars().count() + 1),
            message: format!(
                "invalid UTF-8 (byte 0x{:02x}); a topology file must be UTF-8",
                bytes[offset]
            ),
            context: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn message(path: &Path) -> String {
        read(path).expect_err("refused").to_string()
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_by_name() {
        assert_eq!(
            message(Path::new("/dev/zero")),
            "/dev/zero: is a character device; a topology must be a regular file (or - for stdin)"
        );
        assert_eq!(
            message(Path::new("/")),
            "/: is a directory; a topology must be a regular file (or - for stdin)"
        );
        let dir = std::env::temp_dir().join(format!("hin-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let fifo = dir.join("topo.yaml");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // Returns at once: nothing opens the FIFO (which would wait for a writer).
        let err = message(&fifo);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            err,
            format!(
                "{}: is a FIFO; a topology must be a regular file (or - for stdin)",
                fifo.display()
            )
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_reading() {
        let dir = std::env::temp_dir().join(format!("hin-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let big = dir.join("big.yaml");
        // Sparse: no 16 MiB written to disk.
        let file = File::create(&big).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("set_len");
        let err = message(&big);
        let exact = dir.join("exact.yaml");
        File::create(&exact)
            .and_then(|f| f.set_len(MAX_FILE_BYTES))
            .expect("create");
        let at_limit = read(&exact);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            err,
            format!(
                "{}: is larger than 16 MiB, the most a topology may be",
                big.display()
            )
        );
        // Exactly at the limit is read (NUL bytes are valid UTF-8; the YAML parser refuses them).
        assert_eq!(at_limit.expect("at the limit").len() as u64, MAX_FILE_BYTES);
    }

    #[test]
    fn a_stream_is_read_with_the_same_cap() {
        let endless = std::io::repeat(b'a');
        let err = read_capped(endless, "<stdin>").expect_err("capped");
        assert_eq!(
            err.to_string(),
            "<stdin>: is larger than 16 MiB, the most a topology may be"
        );
        assert_eq!(
            read_capped(&b"version: 1\n"[..], "<stdin>")
                .expect("small")
                .len(),
            11
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let bytes = b"version: 1\nhosts:\n  h\xc3\xa9: {}\n  b\xffd: {}\n".to_vec();
        assert_eq!(
            utf8(bytes, "t.yaml").expect_err("invalid").to_string(),
            "t.yaml:4:4: invalid UTF-8 (byte 0xff); a topology file must be UTF-8"
        );
        let bytes = b"\xfe".to_vec();
        assert_eq!(
            utf8(bytes, "t.yaml").expect_err("invalid").to_string(),
            "t.yaml:1:1: invalid UTF-8 (byte 0xfe); a topology file must be UTF-8"
        );
    }

    #[test]
    fn stdin_is_named_in_messages() {
        assert!(is_stdin(Path::new("-")));
        assert!(!is_stdin(Path::new("./-")));
        assert_eq!(display_name(Path::new("-")), "<stdin>");
    }
}
