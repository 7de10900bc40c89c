import CLibFDT

/// One libfdt call, with the values it was given, so that a failure can say what failed.
enum LibFDTCall: Sendable, CustomStringConvertible {
    case create(bufferSize: Int)
    case resize(bufferSize: Int)
    case addReservation(address: UInt64, size: UInt64)
    case finishReservations
    case beginNode(path: String)
    case property(name: String, node: String, length: Int)
    case endNode(path: String)
    case finish
    case openInto(bufferSize: Int)
    case addMemoryReservation(address: UInt64, size: UInt64)
    case pack
    case checkHeader
    case checkFull(bufferSize: Int)
    case pathOffset(path: String)
    case getProperty(name: String, node: String)
    case nodeName(node: String)
    case nodeDepth(path: String)
    case nodePath(path: String)
    case subnodes(of: String)
    case properties(of: String)
    case reservations

    var description: String {
        switch self {
        case let .create(size): return "fdt_create(\(size) bytes)"
        case let .resize(size): return "fdt_resize(to \(size) bytes)"
        case let .addReservation(address, size):
            return "fdt_add_reservemap_entry(\(hex(address)), \(hex(size)))"
        case .finishReservations: return "fdt_finish_reservemap"
        case let .beginNode(path): return "fdt_begin_node(\(path))"
        case let .property(name, node, length):
            return "fdt_property(\"\(name)\" of \(node), \(length) bytes)"
        case let .endNode(path): return "fdt_end_node(\(path))"
        case .finish: return "fdt_finish"
        case let .openInto(size): return "fdt_open_into(\(size) bytes)"
        case let .addMemoryReservation(address, size):
            return "fdt_add_mem_rsv(\(hex(address)), \(hex(size)))"
        case .pack: return "fdt_pack"
        case .checkHeader: return "fdt_check_header"
        case let .checkFull(size): return "fdt_check_full(\(size) bytes)"
        case let .pathOffset(path): return "fdt_path_offset(\"\(path)\")"
        case let .getProperty(name, node): return "fdt_getprop(\(node), \"\(name)\")"
        case let .nodeName(node): return "fdt_get_name(\(node))"
        case let .nodeDepth(path): return "fdt_node_depth(\(path))"
        case let .nodePath(path): return "fdt_get_path(\(path))"
        case let .subnodes(node): return "fdt_first/next_subnode(\(node))"
        case let .properties(node): return "fdt_first/next_property_offset(\(node))"
        case .reservations: return "fdt_get_mem_rsv"
        }
    }

    /// Whether the call reads a blob that came from outside (so inconsistencies mean corruption,
    /// not a bug in this module).
    var readsGivenBlob: Bool {
        switch self {
        case .checkHeader, .checkFull, .pathOffset, .getProperty, .nodeName, .nodeDepth, .nodePath,
            .subnodes, .properties, .reservations:
            return true
        default:
            return false
        }
    }
}

/// The one place where libfdt return codes become `DeviceTreeError`s.
enum LibFDT {
    /// Returns `code` when libfdt reports success (≥ 0), otherwise throws the typed error for
    /// `-code`. `bufferSize` is the size of the buffer the call worked on (for `blobTooSmall`).
    @discardableResult
    static func check(_ code: Int32, _ call: LibFDTCall, bufferSize: Int) throws(DeviceTreeError) -> Int32 {
        guard code < 0 else { return code }
        let reason = explain(code)
        switch (-code, call) {
        case (FDT_ERR_NOSPACE, _):
            throw .blobTooSmall(operation: call.description, capacity: bufferSize)
        case (FDT_ERR_BADSTATE, _):
            throw .badState(operation: call.description, reason: reason)
        case (FDT_ERR_NOTFOUND, .pathOffset(let path)):
            throw .nodeNotFound(path: path)
        case (FDT_ERR_BADPATH, .pathOffset(let path)):
            throw .badPath(path, reason: reason)
        case (FDT_ERR_NOTFOUND, .getProperty(let name, let node)):
            throw .propertyNotFound(name: name, node: node)
        case (FDT_ERR_BADMAGIC, _), (FDT_ERR_BADVERSION, _), (FDT_ERR_TRUNCATED, _),
            (FDT_ERR_BADSTRUCTURE, _), (FDT_ERR_BADLAYOUT, _), (FDT_ERR_ALIGNMENT, _),
            (FDT_ERR_BADOFFSET, _), (FDT_ERR_BADVALUE, _), (FDT_ERR_INTERNAL, _):
            if call.readsGivenBlob {
                throw .corruptBlob(operation: call.description, reason: reason)
            }
            throw .internal(operation: call.description, code: code, message: reason)
        default:
            throw .internal(operation: call.description, code: code, message: reason)
        }
    }

    /// Like `check`, but `FDT_ERR_NOTFOUND` is an answer ("there is none"), returned as nil.
    static func checkFound(_ code: Int32, _ call: LibFDTCall, bufferSize: Int) throws(DeviceTreeError) -> Int32? {
        if code == -FDT_ERR_NOTFOUND { return nil }
        return try check(code, call, bufferSize: bufferSize)
    }

    /// libfdt's name for the error (`fdt_strerror`) with a short explanation.
    static func explain(_ code: Int32) -> String {
        // fdt_strerror returns a pointer to a static string (or "<unknown error>"), never NULL
        // in practice; the optional check keeps that assumption out of the way.
        let name = fdt_strerror(code).map { String(cString: $0) } ?? "error \(code)"
        let meaning: String
        switch -code {
        case FDT_ERR_NOTFOUND: meaning = "no such node or property"
        case FDT_ERR_EXISTS: meaning = "node or property already exists"
        case FDT_ERR_NOSPACE: meaning = "buffer too small"
        case FDT_ERR_BADOFFSET: meaning = "offset does not point at the expected tag"
        case FDT_ERR_BADPATH: meaning = "badly formatted path"
        case FDT_ERR_BADSTATE: meaning = "operation not allowed in the tree's current state"
        case FDT_ERR_TRUNCATED: meaning = "a block or string runs past the end of the blob"
        case FDT_ERR_BADMAGIC: meaning = "wrong magic number"
        case FDT_ERR_BADVERSION: meaning = "unsupported format version"
        case FDT_ERR_BADSTRUCTURE: meaning = "the structure block is corrupt"
        case FDT_ERR_BADLAYOUT: meaning = "blocks are in an unsupported order"
        case FDT_ERR_INTERNAL: meaning = "libfdt internal assertion failed"
        case FDT_ERR_BADVALUE: meaning = "a property has an unexpected value"
        case FDT_ERR_ALIGNMENT: meaning = "the blob is not 8-byte aligned"
        default: meaning = "see libfdt.h"
        }
        return "\(name) (\(meaning))"
    }
}
