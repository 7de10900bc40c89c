import Foundation
import PackagePlugin

/// Writes `BuildInfo.swift` (the package version from VERSION and the git revision) into the
/// target it is applied to, before every build. Scripts/build-info.sh does the work and rewrites
/// the file only when its text changes, so an unchanged tree rebuilds nothing.
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appending(path: "Generated")
        return [
            .prebuildCommand(
                displayName: "Version and git revision for \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [root.appending(path: "Scripts/build-info.sh").path(percentEncoded: false),
                            root.path(percentEncoded: false),
                            output.appending(path: "BuildInfo.swift").path(percentEncoded: false)],
                outputFilesDirectory: output
            ),
        ]
    }
}
