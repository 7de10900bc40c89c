import SystemPackage

/// Reading and writing host files (guest images, modules, manifests, reports) through
/// swift-system's `FileDescriptor`, with errors that name the path and the reason.
public enum HostFile {
    /// Reads the whole file at `path` (at most `limit` bytes); an error names it as `kind`
    /// ("cannot read initrd PATH: no such file").
    public static func read(_ path: String, as kind: String = "file", limit: Int = 1 << 30) throws(VMMError) -> [UInt8] {
        do {
            // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever,
            // before the check below could refuse it. It changes nothing for a regular file.
            let fd = try FileDescriptor.open(FilePath(path), .readOnly,
                                             options: [.closeOnExec, .nonBlocking, noControllingTerminal])
            return try fd.closeAfter { () throws -> [UInt8] in
                let info = try fd.stat()
                guard info.type == .regular else { throw HostFileProblem.reason("not a regular file") }
                guard info.size <= limit else { throw HostFileProblem.reason("\(info.size) bytes is larger than \(limit)") }
                var bytes = [UInt8](repeating: 0, count: Int(info.size))
                var done = 0
                while done < bytes.count {
                    let n = try bytes.withUnsafeMutableBytes { try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[done...])) }
                    if n == 0 { break }  // the file shrank while it was read
                    done += n
                }
                return Array(bytes[0..<done])
            }
        } catch {
            throw .unreadableFile(kind: kind, path: path, reason: reason(error))
        }
    }

    /// Writes `bytes` to `path`, replacing it (created with mode 0644).
    public static func write(_ bytes: [UInt8], to path: String) throws(VMMError) {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                             permissions: [.ownerReadWrite, .groupRead, .otherRead])
            _ = try fd.closeAfter { try fd.writeAll(bytes) }
        } catch {
            throw .hostFile(path: path, reason: reason(error))
        }
    }

    /// True when `path` names an existing regular file.
    public static func exists(_ path: String) -> Bool {
        (try? Stat(FilePath(path)))?.type == .regular
    }

    /// O_NOCTTY, which swift-system has no name for: opening a terminal device must not make it
    /// the controlling terminal of the VMM.
    private static let noControllingTerminal = FileDescriptor.OpenOptions(rawValue: 0o400)

    private enum HostFileProblem: Error { case reason(String) }

    static func reason(_ error: any Error) -> String {
        if case let HostFileProblem.reason(text) = error { return text }
        guard let errno = error as? Errno else { return "\(error)" }
        switch errno {
        case .noSuchFileOrDirectory: return "no such file"
        case .permissionDenied: return "permission denied"
        case .isDirectory: return "is a directory"
        case .notDirectory: return "a part of the path is not a directory"
        case .tooManySymbolicLinkLevels: return "too many symbolic links"
        default: return errno.description
        }
    }
}
