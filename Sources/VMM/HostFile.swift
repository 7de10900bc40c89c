#if canImport(Glibc)
import Glibc
#endif

/// Reading host files without Foundation, with errors that name the path and the reason.
public enum HostFile {
    /// Reads the whole file at `path` (at most `limit` bytes).
    public static func read(_ path: String, limit: Int = 1 << 30) throws(VMMError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever,
        // before the check below could refuse it. It changes nothing for a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw .guestFile(path: path, reason: reason(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .guestFile(path: path, reason: reason(errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .guestFile(path: path, reason: "not a regular file") }
        guard info.st_size <= limit else { throw .guestFile(path: path, reason: "\(info.st_size) bytes is larger than \(limit)") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .guestFile(path: path, reason: reason(errno))
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Writes `bytes` to `path`, replacing it.
    public static func write(_ bytes: [UInt8], to path: String) throws(VMMError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .hostFile(path: path, reason: reason(errno)) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .hostFile(path: path, reason: reason(errno))
            }
            done += n
        }
    }

    /// True when `path` names an existing regular file.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func reason(_ error: Int32) -> String {
        switch error {
        case ENOENT: "no such file"
        case EACCES: "permission denied"
        case EISDIR: "is a directory"
        case ENOTDIR: "a part of the path is not a directory"
        case ELOOP: "too many symbolic links"
        default: String(cString: strerror(error))
        }
    }
}
