import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Finds the guests built from `Guests/` by `Scripts/build-guests.sh` (into `.build/guests`).
///
/// Looks in `$VMM_GUEST_DIR` first, then in a `guests` folder beside the executable or in any of
/// its ancestors (the executable lives in `.build/<triple>/<config>/`).
public enum BuiltInGuests {
    /// The path of built guest `name` (without `.elf`), or nil when it was not built.
    public static func path(of name: String) -> String? {
        for directory in searchDirectories() {
            let candidate = directory + "/" + name + ".elf"
            if HostFile.exists(candidate) { return candidate }
        }
        return nil
    }

    /// The first searched folder that holds `file`, or nil.
    public static func directory(containing file: String) -> String? {
        searchDirectories().first { HostFile.exists($0 + "/" + file) }
    }

    /// The folders searched, in order.
    public static func searchDirectories() -> [String] {
        var result: [String] = []
        if let env = getenv("VMM_GUEST_DIR") { result.append(String(cString: env)) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return result }
        var directory = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            directory = String(directory[..<slash])
            result.append(directory + "/guests")
        }
        return result
    }
}
