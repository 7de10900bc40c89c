import CLibFDT

/// Builds a flattened device tree blob with libfdt's sequential-write functions.
///
/// The calls follow the blob's own order: memory reservations first, then the nodes depth
/// first (each node's properties before its children), then `finish`.
///
/// ```swift
/// var writer = try DeviceTreeWriter()
/// try writer.addReservation(address: 0, size: 0x10_0000)
/// try writer.root { root throws(DeviceTreeError) in
///     try root.property("#address-cells", u32: 2)
///     try root.node("memory@0") { memory throws(DeviceTreeError) in
///         try memory.property("device_type", string: "memory")
///     }
/// }
/// let blob = try writer.finish()
/// ```
///
/// The writer owns its buffer. When libfdt reports `FDT_ERR_NOSPACE` it doubles the buffer
/// (`fdt_resize`) and repeats the call, up to `maximumSize`; libfdt leaves the tree unchanged
/// when a call fails for lack of room, so the retry is exact.
///
/// Names are checked against the devicetree specification before they reach libfdt (which
/// copies whatever it is given); libfdt's own refusals arrive as `DeviceTreeError`s too.
/// libfdt: `fdt_create`, `fdt_resize`, `fdt_add_reservemap_entry`, `fdt_finish_reservemap`,
/// `fdt_begin_node`, `fdt_property`, `fdt_end_node`, `fdt_finish`, `fdt_open_into`,
/// `fdt_add_mem_rsv`.
public struct DeviceTreeWriter: Sendable {
    /// The largest blob, in bytes, this writer may grow to.
    public let maximumSize: Int

    private var buffer: AlignedBuffer
    private var phase = Phase.reservations
    private var openNodes: [OpenNode] = []
    private var rootWritten = false

    private enum Phase { case reservations, structure, finished }

    /// What the writer remembers about a node that is still open.
    private struct OpenNode: Sendable {
        var path: String
        var propertyNames: Set<String> = []
        var childNames: Set<String> = []
        var firstChild: String?
        /// The node's `#address-cells` / `#size-cells` as written, which give the cell counts
        /// of its children's `reg`.
        var addressCells: Int?
        var sizeCells: Int?
    }

    /// Starts an empty tree in a buffer of `initialCapacity` bytes that may grow to
    /// `maximumSize` bytes (both at least 64; at most `Int32.max`). libfdt: `fdt_create`.
    public init(initialCapacity: Int = 4096, maximumSize: Int = 1 << 20) throws(DeviceTreeError) {
        let limit = Int(Int32.max) & ~7
        self.maximumSize = min(max(maximumSize, 64), limit)
        let capacity = min(max(initialCapacity, 64), self.maximumSize)
        buffer = AlignedBuffer(zeroed: capacity)
        try call(.create(bufferSize: capacity)) { fdt, size in fdt_create(fdt, size) }
    }

    /// The path of the innermost open node ("/" for the root), or nil when none is open.
    public var currentPath: String? { openNodes.last?.path }

    // MARK: Memory reservations

    /// Adds a `/memreserve/` entry: guest memory the guest must leave alone. Only allowed
    /// before the first node; afterwards libfdt refuses (`FDT_ERR_BADSTATE`).
    /// libfdt: `fdt_add_reservemap_entry`.
    public mutating func addReservation(address: UInt64, size: UInt64) throws(DeviceTreeError) {
        try Self.validateReservation(address: address, size: size)
        try call(.addReservation(address: address, size: size)) { fdt, _ in
            fdt_add_reservemap_entry(fdt, address, size)
        }
    }

    static func validateReservation(address: UInt64, size: UInt64) throws(DeviceTreeError) {
        guard size > 0 else {
            // A zero-sized entry would also read as the list's terminator.
            throw .badReservation(address: address, size: size, reason: "the size is zero")
        }
        guard address <= UInt64.max - (size - 1) else {
            throw .badReservation(address: address, size: size, reason: "it runs past the end of the 64-bit address space")
        }
    }

    // MARK: Nodes

    /// Opens a node. The first node must be the root (empty name, see `root(_:)`); every other
    /// name must follow the specification (`name` or `name@unit-address`, letters, digits and
    /// `,._+-`, at most 31 characters before `@`) and be unique among its siblings.
    /// libfdt: `fdt_finish_reservemap` (before the root), `fdt_begin_node`.
    public mutating func beginNode(_ name: String) throws(DeviceTreeError) {
        guard phase != .finished else {
            throw .badState(operation: "beginNode(\"\(name)\")", reason: "the tree is already finished")
        }
        let path: String
        if let parent = openNodes.last {
            if let problem = DeviceTreeNames.problem(withNodeName: name) {
                throw .badNodeName(name, reason: problem)
            }
            guard !parent.childNames.contains(name) else {
                throw .badNodeName(name, reason: "\(parent.path) already has a child of this name")
            }
            path = parent.path == "/" ? "/" + name : parent.path + "/" + name
        } else {
            guard !rootWritten else {
                throw .badState(operation: "beginNode(\"\(name)\")", reason: "the root node is already closed; a tree has one root")
            }
            guard name.isEmpty else {
                throw .badNodeName(name, reason: "the first node is the root, whose name is empty")
            }
            path = "/"
        }
        if phase == .reservations {
            try call(.finishReservations) { fdt, _ in fdt_finish_reservemap(fdt) }
            phase = .structure
        }
        try call(.beginNode(path: path)) { fdt, _ in
            name.withCString { fdt_begin_node(fdt, $0) }
        }
        if !openNodes.isEmpty {
            openNodes[openNodes.count - 1].childNames.insert(name)
            if openNodes[openNodes.count - 1].firstChild == nil {
                openNodes[openNodes.count - 1].firstChild = name
            }
        }
        openNodes.append(OpenNode(path: path))
    }

    /// Closes the innermost open node. libfdt: `fdt_end_node`.
    public mutating func endNode() throws(DeviceTreeError) {
        guard let node = openNodes.last else {
            throw .badState(operation: "endNode()", reason: "no node is open")
        }
        try call(.endNode(path: node.path)) { fdt, _ in fdt_end_node(fdt) }
        openNodes.removeLast()
        if openNodes.isEmpty { rootWritten = true }
    }

    /// Writes the root node: `body` adds its properties and children.
    public mutating func root(_ body: (inout DeviceTreeWriter) throws(DeviceTreeError) -> Void) throws(DeviceTreeError) {
        try node("", body)
    }

    /// Writes a node named `name` in the current node: `body` adds its properties and children.
    public mutating func node(
        _ name: String, _ body: (inout DeviceTreeWriter) throws(DeviceTreeError) -> Void
    ) throws(DeviceTreeError) {
        try beginNode(name)
        try body(&self)
        try endNode()
    }

    // MARK: Properties

    /// Adds a property with raw `bytes` as its value to the innermost open node. This is the
    /// one place properties are written; the typed variants encode and call it.
    /// libfdt: `fdt_property`.
    public mutating func property(_ name: String, bytes: [UInt8]) throws(DeviceTreeError) {
        guard let node = openNodes.last else {
            throw .badState(operation: "property(\"\(name)\")", reason: phase == .finished ? "the tree is already finished" : "no node is open")
        }
        if let problem = DeviceTreeNames.problem(withPropertyName: name) {
            throw .badProperty(name: name, node: node.path, reason: problem)
        }
        guard !node.propertyNames.contains(name) else {
            throw .badProperty(name: name, node: node.path, reason: "written twice")
        }
        if let child = node.firstChild {
            throw .badProperty(name: name, node: node.path, reason: "properties must come before child nodes, and child \"\(child)\" is already written")
        }
        guard let length = Int32(exactly: bytes.count) else {
            throw .badProperty(name: name, node: node.path, reason: "a value of \(bytes.count) bytes is too long")
        }
        try call(.property(name: name, node: node.path, length: bytes.count)) { fdt, _ in
            name.withCString { cName in
                // libfdt copies `length` bytes from the value pointer. For a non-empty value that
                // pointer is the array's own storage of exactly `length` bytes; for an empty one
                // it is a one-byte local, of which libfdt reads nothing.
                if bytes.isEmpty {
                    var none: UInt8 = 0
                    return withUnsafeBytes(of: &none) { fdt_property(fdt, cName, $0.baseAddress, 0) }
                }
                return bytes.withUnsafeBytes { fdt_property(fdt, cName, $0.baseAddress, length) }
            }
        }
        openNodes[openNodes.count - 1].propertyNames.insert(name)
        if bytes.count == 4 {
            let value = Int(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            if name == "#address-cells" { openNodes[openNodes.count - 1].addressCells = value }
            if name == "#size-cells" { openNodes[openNodes.count - 1].sizeCells = value }
        }
    }

    /// The parent's `#address-cells` and `#size-cells` for a `reg`-like property of the
    /// innermost open node (2 and 1 where the parent wrote none, as the specification says).
    func parentCells(for property: String) throws(DeviceTreeError) -> (address: Int, size: Int) {
        guard openNodes.count >= 2 else {
            throw .badProperty(name: property, node: currentPath ?? "(no node)", reason: "needs a parent node to give #address-cells and #size-cells")
        }
        let parent = openNodes[openNodes.count - 2]
        return (parent.addressCells ?? 2, parent.sizeCells ?? 1)
    }

    // MARK: Finishing

    /// Ends the tree and returns the blob (exactly `totalsize` bytes). All nodes must be closed.
    ///
    /// With `blobAddress`, the blob also reserves itself: one more `/memreserve/` entry covers
    /// `blobAddress ..< blobAddress + blob.count`, the place the caller will copy it to. The
    /// entry is added after `fdt_finish` (its size is known only then) with `fdt_open_into`
    /// into a buffer exactly one entry larger and `fdt_add_mem_rsv`, so the returned blob's
    /// length and the reserved size are the same number.
    /// libfdt: `fdt_finish`, then `fdt_open_into` and `fdt_add_mem_rsv` for `blobAddress`.
    public mutating func finish(reservingBlobAt blobAddress: UInt64? = nil) throws(DeviceTreeError) -> [UInt8] {
        guard phase != .finished else {
            throw .badState(operation: "finish()", reason: "the tree is already finished")
        }
        if let open = openNodes.last {
            throw .badState(operation: "finish()", reason: "node \(open.path) is still open")
        }
        guard rootWritten else {
            throw .badState(operation: "finish()", reason: "no root node was written")
        }
        try call(.finish) { fdt, _ in fdt_finish(fdt) }
        phase = .finished
        let total = try totalSize(of: buffer, after: .finish)
        guard let blobAddress else { return buffer.bytes(prefix: total) }

        let reservationSize = total + MemoryLayout<UInt64>.size * 2  // one fdt_reserve_entry
        try Self.validateReservation(address: blobAddress, size: UInt64(reservationSize))
        guard let length = Int32(exactly: reservationSize) else {
            throw .blobTooSmall(operation: LibFDTCall.openInto(bufferSize: reservationSize).description, capacity: maximumSize)
        }
        var grown = AlignedBuffer(zeroed: reservationSize)
        let code = buffer.withUnsafeBytes { old in
            grown.withUnsafeMutableBytes { new in
                // `old` holds the finished blob (total <= old.count bytes, checked above) and
                // `new` holds `length` bytes; libfdt copies at most total bytes into it after
                // checking that they fit in `length`.
                fdt_open_into(old.baseAddress, new.baseAddress, length)
            }
        }
        try LibFDT.check(code, .openInto(bufferSize: reservationSize), bufferSize: reservationSize)
        let added = grown.withUnsafeMutableBytes { new in
            // libfdt only moves bytes within the blob's totalsize, which fdt_open_into set to
            // `length`, the size of `new`.
            fdt_add_mem_rsv(new.baseAddress, blobAddress, UInt64(reservationSize))
        }
        let call = LibFDTCall.addMemoryReservation(address: blobAddress, size: UInt64(reservationSize))
        try LibFDT.check(added, call, bufferSize: reservationSize)
        let final = try totalSize(of: grown, after: call)
        guard final == reservationSize else {
            throw .internal(operation: call.description, code: 0, message: "the blob is \(final) bytes but \(reservationSize) were reserved")
        }
        return grown.bytes(prefix: final)
    }

    // MARK: The libfdt call loop

    /// Runs `body` on the buffer (its start and size) and checks the result; on
    /// `FDT_ERR_NOSPACE` grows the buffer and runs it again while `maximumSize` allows.
    @discardableResult
    private mutating func call(
        _ call: LibFDTCall, _ body: (UnsafeMutableRawPointer, Int32) -> Int32
    ) throws(DeviceTreeError) -> Int32 {
        while true {
            let code = buffer.withUnsafeMutableBytes { raw -> Int32 in
                // The buffer is never empty (at least 64 bytes), so it has a start; libfdt is
                // told its exact size (raw.count, which is at most maximumSize < Int32.max) and
                // stays within it.
                guard let base = raw.baseAddress, let size = Int32(exactly: raw.count) else {
                    return -FDT_ERR_NOSPACE
                }
                return body(base, size)
            }
            do throws(DeviceTreeError) {
                return try LibFDT.check(code, call, bufferSize: buffer.count)
            } catch {
                guard case .blobTooSmall = error, buffer.count < maximumSize else {
                    throw error
                }
                try grow()
            }
        }
    }

    /// Doubles the buffer (capped at `maximumSize`), moving the tree with `fdt_resize`.
    private mutating func grow() throws(DeviceTreeError) {
        let newSize = min(buffer.count * 2, maximumSize)
        var larger = AlignedBuffer(zeroed: newSize)
        let code = buffer.withUnsafeMutableBytes { old in
            larger.withUnsafeMutableBytes { new -> Int32 in
                // fdt_resize reads the used parts of `old` (within its header's totalsize, which
                // is old.count) and writes them into `new`, whose exact size it is given.
                guard let size = Int32(exactly: new.count) else { return -FDT_ERR_NOSPACE }
                return fdt_resize(old.baseAddress, new.baseAddress, size)
            }
        }
        try LibFDT.check(code, .resize(bufferSize: newSize), bufferSize: newSize)
        buffer = larger
    }

    /// The header's `totalsize` of a finished blob, checked against the buffer holding it.
    private func totalSize(of blob: AlignedBuffer, after call: LibFDTCall) throws(DeviceTreeError) -> Int {
        guard let total = blob.bigEndianUInt32(at: 4).map(Int.init), total <= blob.count else {
            throw .internal(operation: call.description, code: 0, message: "the header's totalsize exceeds the \(blob.count)-byte buffer")
        }
        return total
    }
}
