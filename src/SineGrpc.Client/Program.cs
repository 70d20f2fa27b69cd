using SineGrpc.Client.Cli;

// The first Ctrl+C stops the run cleanly (the stream is cancelled, the summary printed);
// a second one kills the process as usual.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (!cancellation.IsCancellationRequested)
    {
        e.Cancel = true;
        cancellation.Cancel();
    }
};

return await CliApp.RunAsync(args, Console.Out, Console.Error, stderrIsTerminal: !Console.IsErrorRedirected, cancellation.Token);
