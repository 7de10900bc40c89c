import CLibFDT

/// A `/memreserve/` entry of a blob.
public struct MemoryReservation: Sendable, Equatable, CustomStringConvertible {
    /// Guest-physical address of the first reserved byte.
    public var address: UInt64
    /// Number of reserved bytes.
    public var size: UInt64

    /// A reservation of `size` bytes at `address`.
    public init(address: UInt64, size: UInt64) {
        self.address = address
        self.size = size
    }

    public var description: String { "\(hex(size)) bytes at \(hex(address))" }
}

/// A node found in a blob. It holds libfdt's structure-block offset, which only means something
/// to the blob the node came from (given to another blob, libfdt's offset checks refuse it
/// or it names a different node).
public struct DeviceTreeNode: Sendable, Equatable {
    /// Full path, "/" for the root.
    public let path: String
    /// The name with its unit address ("" for the root).
    public let name: String
    /// Depth below the root (the root is 0).
    public let depth: Int
    let offset: Int32
}

/// A validated, read-only flattened device tree, for parsing blobs back in tests and for
/// checking blobs that users hand to the VMM.
///
/// `init(bytes:)` accepts a blob only when the magic is right, the header's `totalsize` fits in
/// the bytes given, `fdt_check_header` accepts the header and `fdt_check_full` accepts the
/// structure and strings blocks. After that, every libfdt pointer into the blob is turned into
/// an offset and checked against the blob's size before anything is copied out, so even a blob
/// that fools libfdt's checks cannot make the reader touch memory outside it.
/// libfdt: `fdt_check_header`, `fdt_check_full`, `fdt_path_offset`, `fdt_get_name`,
/// `fdt_node_depth`, `fdt_get_path`, `fdt_getprop`, `fdt_first/next_subnode`, `fdt_first/next_property_offset`,
/// `fdt_getprop_by_offset`, `fdt_num_mem_rsv`, `fdt_get_mem_rsv`.
public struct DeviceTreeBlob: Sendable {
    /// The flattened-device-tree magic number, stored big-endian at offset 0.
    public static let magic: UInt32 = 0xD00D_FEED
    /// Size of the version-17 header, the smallest a blob can be.
    public static let headerSize = 40

    /// The blob's first `totalsize` bytes, 8-byte aligned.
    private let storage: AlignedBuffer

    /// Validates `bytes` and keeps a copy of the blob (its header's `totalsize` bytes; anything
    /// after them is ignored, as when a blob sits in a larger buffer).
    public init(bytes: [UInt8]) throws(DeviceTreeError) {
        let header = AlignedBuffer(copying: Array(bytes.prefix(Self.headerSize)))
        guard bytes.count >= Self.headerSize,
            let magic = header.bigEndianUInt32(at: 0),
            let totalSize = header.bigEndianUInt32(at: 4).map(Int.init)
        else {
            throw .truncated(needed: Self.headerSize, available: bytes.count)
        }
        guard magic == Self.magic else { throw .badMagic(found: magic) }
        guard totalSize <= bytes.count else {
            throw .truncated(needed: totalSize, available: bytes.count)
        }
        guard totalSize >= Self.headerSize else {
            throw .corruptBlob(operation: "the header", reason: "totalsize \(totalSize) is smaller than the \(Self.headerSize)-byte header")
        }
        storage = AlignedBuffer(copying: Array(bytes.prefix(totalSize)))
        let headerCode = storage.withUnsafeBytes { raw in
            // fdt_check_header reads at most the 40-byte header, and the buffer holds
            // totalSize >= 40 bytes.
            fdt_check_header(raw.baseAddress)
        }
        try LibFDT.check(headerCode, .checkHeader, bufferSize: totalSize)
        let fullCode = storage.withUnsafeBytes { raw in
            // fdt_check_full is told the exact buffer size and checks every block against it.
            fdt_check_full(raw.baseAddress, raw.count)
        }
        try LibFDT.check(fullCode, .checkFull(bufferSize: totalSize), bufferSize: totalSize)
    }

    /// The blob's bytes (exactly its `totalsize`).
    public var bytes: [UInt8] { storage.bytes(prefix: storage.count) }

    /// The blob's size in bytes (its header's `totalsize`).
    public var size: Int { storage.count }

    /// The memory reservation block's entries, in order. libfdt: `fdt_num_mem_rsv`, `fdt_get_mem_rsv`.
    public func reservations() throws(DeviceTreeError) -> [MemoryReservation] {
        try reading { blob throws(DeviceTreeError) in
            let count = try blob.check(fdt_num_mem_rsv(blob.base), .reservations)
            var result: [MemoryReservation] = []
            for index in 0..<count {
                var address: UInt64 = 0
                var size: UInt64 = 0
                try blob.check(fdt_get_mem_rsv(blob.base, index, &address, &size), .reservations)
                result.append(MemoryReservation(address: address, size: size))
            }
            return result
        }
    }

    /// The node at `path` (e.g. "/cpus/cpu@0", or an alias from `/aliases`); the node's `path`
    /// is its full path. libfdt: `fdt_path_offset`, `fdt_get_name`, `fdt_node_depth`,
    /// `fdt_get_path`.
    public func node(path: String) throws(DeviceTreeError) -> DeviceTreeNode {
        guard !path.utf8.contains(0) else { throw .badPath(path, reason: "contains a NUL byte") }
        return try reading { blob throws(DeviceTreeError) in
            let offset = try blob.check(path.withCString { fdt_path_offset(blob.base, $0) }, .pathOffset(path: path))
            let name = try blob.name(of: offset, describedAs: path)
            let depth = try blob.check(fdt_node_depth(blob.base, offset), .nodeDepth(path: path))
            let fullPath = try blob.fullPath(of: offset, given: path)
            return DeviceTreeNode(path: fullPath, name: name, depth: Int(depth), offset: offset)
        }
    }

    /// Whether a node exists at `path`.
    public func hasNode(path: String) -> Bool {
        (try? node(path: path)) != nil
    }

    /// The property `name` of the node at `path`. libfdt: `fdt_getprop`.
    public func property(_ name: String, of path: String) throws(DeviceTreeError) -> DeviceTreeProperty {
        try property(name, of: node(path: path))
    }

    /// The property `name` of `node`. libfdt: `fdt_getprop`.
    public func property(_ name: String, of node: DeviceTreeNode) throws(DeviceTreeError) -> DeviceTreeProperty {
        guard !name.utf8.contains(0) else {
            throw .propertyNotFound(name: name, node: node.path)
        }
        return try reading { blob throws(DeviceTreeError) in
            var length: Int32 = 0
            let value = name.withCString { fdt_getprop(blob.base, node.offset, $0, &length) }
            let call = LibFDTCall.getProperty(name: name, node: node.path)
            guard let value else {
                // On failure libfdt puts the negative error code in `length`.
                try blob.check(length < 0 ? length : -FDT_ERR_INTERNAL, call)
                throw .internal(operation: call.description, code: length, message: "no value and no error")
            }
            let bytes = try blob.copy(value, length: length, for: call)
            return DeviceTreeProperty(name: name, node: node.path, bytes: bytes)
        }
    }

    /// Every property of `node`, in blob order. libfdt: `fdt_first/next_property_offset`,
    /// `fdt_getprop_by_offset`.
    public func properties(of node: DeviceTreeNode) throws(DeviceTreeError) -> [DeviceTreeProperty] {
        try reading { blob throws(DeviceTreeError) in
            let call = LibFDTCall.properties(of: node.path)
            var result: [DeviceTreeProperty] = []
            var next = try blob.checkFound(fdt_first_property_offset(blob.base, node.offset), call)
            while let offset = next {
                var namePointer: UnsafePointer<CChar>?
                var length: Int32 = 0
                let value = fdt_getprop_by_offset(blob.base, offset, &namePointer, &length)
                guard let value else {
                    try blob.check(length < 0 ? length : -FDT_ERR_INTERNAL, call)
                    throw .internal(operation: call.description, code: length, message: "no value and no error")
                }
                let name = try blob.string(at: namePointer, for: call)
                let bytes = try blob.copy(value, length: length, for: call)
                result.append(DeviceTreeProperty(name: name, node: node.path, bytes: bytes))
                next = try blob.checkFound(fdt_next_property_offset(blob.base, offset), call)
            }
            return result
        }
    }

    /// Every property of the node at `path`.
    public func properties(of path: String) throws(DeviceTreeError) -> [DeviceTreeProperty] {
        try properties(of: node(path: path))
    }

    /// The children of `node`, in blob order. libfdt: `fdt_first_subnode`, `fdt_next_subnode`.
    public func children(of node: DeviceTreeNode) throws(DeviceTreeError) -> [DeviceTreeNode] {
        try reading { blob throws(DeviceTreeError) in
            let call = LibFDTCall.subnodes(of: node.path)
            var result: [DeviceTreeNode] = []
            var next = try blob.checkFound(fdt_first_subnode(blob.base, node.offset), call)
            while let offset = next {
                let name = try blob.name(of: offset, describedAs: "a child of " + node.path)
                let path = node.path == "/" ? "/" + name : node.path + "/" + name
                result.append(DeviceTreeNode(path: path, name: name, depth: node.depth + 1, offset: offset))
                next = try blob.checkFound(fdt_next_subnode(blob.base, offset), call)
            }
            return result
        }
    }

    /// The children of the node at `path`.
    public func children(of path: String) throws(DeviceTreeError) -> [DeviceTreeNode] {
        try children(of: node(path: path))
    }

    /// Every node, depth first from the root (iteratively, so a deep blob cannot exhaust the stack).
    public func allNodes() throws(DeviceTreeError) -> [DeviceTreeNode] {
        var result: [DeviceTreeNode] = []
        var pending = [try node(path: "/")]
        while let node = pending.popLast() {
            result.append(node)
            pending.append(contentsOf: try children(of: node).reversed())
        }
        return result
    }

    // MARK: Access to the bytes

    /// Runs `body` with a view of the blob; everything libfdt is asked happens inside it.
    private func reading<T>(_ body: (BlobView) throws(DeviceTreeError) -> T) throws(DeviceTreeError) -> T {
        try storage.withUnsafeBytes { raw in
            Result { () throws(DeviceTreeError) -> T in
                // The blob is at least 40 bytes, so its buffer has a start address.
                guard let base = raw.baseAddress else {
                    throw .truncated(needed: Self.headerSize, available: 0)
                }
                return try body(BlobView(raw: raw, base: base))
            }
        }.get()
    }
}

/// The blob's bytes while `DeviceTreeBlob.reading` runs; never stored or returned.
///
/// `base` points at `raw.count` bytes, which are exactly the validated blob: its header's
/// `totalsize` equals `raw.count`, and libfdt bounds every read by `totalsize`. Pointers
/// libfdt hands back are still turned into offsets and checked here before anything is read.
private struct BlobView {
    let raw: UnsafeRawBufferPointer
    let base: UnsafeRawPointer

    @discardableResult
    func check(_ code: Int32, _ call: LibFDTCall) throws(DeviceTreeError) -> Int32 {
        try LibFDT.check(code, call, bufferSize: raw.count)
    }

    func checkFound(_ code: Int32, _ call: LibFDTCall) throws(DeviceTreeError) -> Int32? {
        try LibFDT.checkFound(code, call, bufferSize: raw.count)
    }

    /// The byte offset of a pointer libfdt returned, if it lies inside the blob.
    func offset(of pointer: UnsafeRawPointer) -> Int? {
        let offset = base.distance(to: pointer)
        return (0..<raw.count).contains(offset) ? offset : nil
    }

    /// A copy of `length` bytes at `pointer`. The pointer is turned into an offset and the range
    /// is checked against the blob before the (bounds-checked) slice is copied, so a pointer
    /// outside the blob is an error, never a read.
    func copy(_ pointer: UnsafeRawPointer, length: Int32, for call: LibFDTCall) throws(DeviceTreeError) -> [UInt8] {
        let start = base.distance(to: pointer)
        guard length >= 0, start >= 0, start <= raw.count, Int(length) <= raw.count - start else {
            throw .corruptBlob(operation: call.description, reason: "a value of \(length) bytes at offset \(start) lies outside the \(raw.count)-byte blob")
        }
        return Array(raw[start..<start + Int(length)])
    }

    /// The NUL-terminated string at `pointer`, which must end inside the blob.
    func string(at pointer: UnsafePointer<CChar>?, for call: LibFDTCall) throws(DeviceTreeError) -> String {
        guard let pointer, let start = offset(of: UnsafeRawPointer(pointer)),
            let end = raw[start...].firstIndex(of: 0)
        else {
            throw .corruptBlob(operation: call.description, reason: "a name lies outside the blob or is not NUL-terminated")
        }
        return String(decoding: raw[start..<end], as: UTF8.self)
    }

    /// The full path of the node at `offset` (libfdt: `fdt_get_path`).
    func fullPath(of offset: Int32, given path: String) throws(DeviceTreeError) -> String {
        // A path is at most the node names along it plus slashes, all of which lie in the
        // structure block, so the blob's size plus 2 (slash and NUL) is always enough.
        var buffer = [CChar](repeating: 0, count: raw.count + 2)
        guard let length = Int32(exactly: buffer.count) else {
            throw .badPath(path, reason: "the blob is too large to hold a path buffer")
        }
        let code = buffer.withUnsafeMutableBufferPointer { out in
            // libfdt writes at most `length` bytes (the buffer's exact size), NUL included.
            fdt_get_path(base, offset, out.baseAddress, length)
        }
        try check(code, .nodePath(path: path))
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The name of the node at `offset` (libfdt: `fdt_get_name`).
    func name(of offset: Int32, describedAs node: String) throws(DeviceTreeError) -> String {
        var length: Int32 = 0
        let call = LibFDTCall.nodeName(node: node)
        guard let pointer = fdt_get_name(base, offset, &length) else {
            try check(length < 0 ? length : -FDT_ERR_INTERNAL, call)
            throw .internal(operation: call.description, code: length, message: "no name and no error")
        }
        return String(decoding: try copy(UnsafeRawPointer(pointer), length: length, for: call), as: UTF8.self)
    }
}
