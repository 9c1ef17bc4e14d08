import BranchSyncCommands
import Foundation

let status = BranchSyncTool.run(
    Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment,
    console: Console.standard())
exit(status)
