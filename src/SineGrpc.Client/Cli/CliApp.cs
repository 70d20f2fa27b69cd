using Grpc.Core;
using SineGrpc.Client.Eval;
using SineGrpc.Client.Models;
using SineGrpc.Client.Segmenting;
using SineGrpc.Client.Tracking;
using Sine.V1;

namespace SineGrpc.Client.Cli;

/// <summary>The <c>sine</c> command line: picks the command, runs it, turns failures into messages and exit codes.</summary>
internal static class CliApp
{
    public const string Help =
        """
        sine: command-line client for the SineGrpc video object segmentation service

        Usage: sine <command> [options]

        Commands:
          track    Track objects through a video or a folder of frames; write per-frame index masks
          segment  Find the objects of reference images in a target image (in-context segmentation)
          models   List the models the server serves
          eval     Score the server on a DAVIS-layout dataset (J&F, as the DAVIS toolkit computes it)

        Run 'sine <command> --help' for a command's options.

        Exit codes: 0 success, 1 failure (server, stream, files), 2 bad usage,
                    3 finished but some frames failed, 130 interrupted.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal, CancellationToken cancellationToken)
    {
        if (args.Count == 0)
        {
            stderr.WriteLine(Help);
            return ExitCodes.Usage;
        }

        var name = args[0];
        var rest = args.Skip(1).ToList();
        if (name is "-h" or "--help" || (name == "help" && rest.Count == 0))
        {
            stdout.WriteLine(Help);
            return ExitCodes.Success;
        }
        if (name == "help")
        {
            // `sine help track` is `sine track --help`.
            (name, rest) = (rest[0], ["--help"]);
        }

        var command = name switch
        {
            "track" => TrackOptions.Command,
            "segment" => SegmentOptions.Command,
            "models" => ModelsOptions.Command,
            "eval" => EvalOptions.Command,
            _ => null,
        };
        if (command is null)
        {
            stderr.WriteLine($"error: unknown command '{name}'. Commands: track, segment, models, eval (see 'sine --help')");
            return ExitCodes.Usage;
        }

        Uri? server = null;
        try
        {
            var parsed = ArgumentParser.Parse(command, rest);
            if (parsed.HelpRequested)
            {
                stdout.WriteLine(command.FormatHelp());
                return ExitCodes.Success;
            }

            if (command == TrackOptions.Command)
            {
                var options = TrackOptions.FromArguments(parsed);
                server = options.Server;
                using var channel = SineChannel.Open(server);
                return await new TrackCommand(options, stderr, stderrIsTerminal).RunAsync(new Segmentation.SegmentationClient(channel), cancellationToken);
            }
            else if (command == SegmentOptions.Command)
            {
                var options = SegmentOptions.FromArguments(parsed);
                server = options.Server;
                using var channel = SineChannel.Open(server);
                return await new SegmentCommand(options, stdout, stderr).RunAsync(new Segmentation.SegmentationClient(channel), cancellationToken);
            }
            else if (command == EvalOptions.Command)
            {
                var options = EvalOptions.FromArguments(parsed);
                server = options.Server;
                using var channel = SineChannel.Open(server);
                return await new EvalCommand(options, stdout, stderr, stderrIsTerminal).RunAsync(new Segmentation.SegmentationClient(channel), cancellationToken);
            }
            else
            {
                var options = ModelsOptions.FromArguments(parsed);
                server = options.Server;
                using var channel = SineChannel.Open(server);
                return await new ModelsCommand(options, stdout).RunAsync(new Segmentation.SegmentationClient(channel), cancellationToken);
            }
        }
        catch (UsageException ex)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && IsCancellation(ex))
        {
            stderr.WriteLine("interrupted");
            return ExitCodes.Cancelled;
        }
        catch (RpcException ex)
        {
            stderr.WriteLine(RpcErrors.Describe(Operation(command), ex, server!));
            return ExitCodes.Failure;
        }
        catch (Exception ex) when (ex is CliException or TrackProtocolException or IOException or UnauthorizedAccessException or InvalidDataException or OpenCvSharp.OpenCVException)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception ex)
        {
            // Last resort: a failure nothing above expected still ends as one line, not a stack trace.
            stderr.WriteLine($"error: {ex.Message} ({ex.GetType().Name})");
            return ExitCodes.Failure;
        }
    }

    private static string Operation(CommandSpec command) =>
        command == TrackOptions.Command || command == EvalOptions.Command ? "the Track stream"
        : command == SegmentOptions.Command ? "the Segment call"
        : "ListModels";

    private static bool IsCancellation(Exception ex) =>
        ex is OperationCanceledException || ex is RpcException { StatusCode: StatusCode.Cancelled };
}
